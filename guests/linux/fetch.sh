#!/usr/bin/env bash
# Fetches Debian's cloud kernel and busybox-static with apt-get (nothing is committed), then prepares:
#   cache/vmlinuz              the bzImage as Debian ships it
#   cache/vmlinux              the uncompressed ELF kernel, extracted from the bzImage's LZ4 payload
#   cache/initramfs.cpio.gz    busybox and the virtio modules (blk, net, console, rng), with an /init that loads
#                              the modules, prints APUS-INIT-OK and reboots (which ends the run); with
#                              `apus.disktest` on the kernel command line it instead mounts /dev/vda, writes a
#                              marker file there, syncs and powers off; with `apus.nettest` it runs the network,
#                              hwrng and hvc0 checks of LinuxVirtioNetTests and powers off
#   cache/rootfs.ext4          a 32 MiB ext4 image holding busybox (mkfs.ext4 -d: no root, no loop mount)
# The initramfs also holds test programs built from programs/*.c with the toolchain's clang (static, no libc):
#   /bin/apus-clockres         prints clock_getres() for CLOCK_MONOTONIC and CLOCK_REALTIME
#   /bin/apus-diskio           O_DIRECT sequential and 4 KiB random block-device figures (bench/disk/guest-io.sh);
#                              /init runs it on /dev/vda with `apus.diskbench` (apus.diskmib=N, apus.diskops=N)
# `--print-version` prints the initramfs version this checkout builds and exits.
# Idempotent: work already done is skipped; concurrent runs wait for each other (flock). Needs apt-get, dpkg-deb,
# lz4, cpio and e2fsprogs (installed when missing, as root) and clang (the Swift toolchain's, or $CLANG).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Bumped whenever the initramfs's layout changes, so an older cache is rebuilt. The cache is shared by several
# checkouts (worktrees), so the recorded version also carries a digest of this script and the programs: two
# branches that both bump the number with different contents still rebuild rather than use each other's image.
initramfs_layout=6
initramfs_version="$initramfs_layout-$(cat "$here/fetch.sh" "$here"/programs/*.c | sha256sum | head -c 12)"
# `fetch.sh --print-version`: the version a cache built from this checkout records (DebianGuest compares it).
if [ "${1:-}" = "--print-version" ]; then echo "$initramfs_version"; exit 0; fi
cache="$here/cache"
mkdir -p "$cache"
cd "$cache"
# One fetch at a time: test processes that find the guest missing may start this script together.
exec 9>"$cache/.fetch.lock"
flock 9

say() { echo "guests/linux: $*" >&2; }
fail() { echo "guests/linux: error: $*" >&2; exit 1; }

need_tools() {
    local missing=()
    command -v lz4 >/dev/null || missing+=(lz4)
    command -v cpio >/dev/null || missing+=(cpio)
    command -v mkfs.ext4 >/dev/null || [ -x /sbin/mkfs.ext4 ] || missing+=(e2fsprogs)
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || fail "missing ${missing[*]}; install them (apt-get install ${missing[*]})"
    say "installing ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

download() {  # download PACKAGE: fetches the .deb into cache/ unless one is there
    local package="$1"
    ls "${package}"_*.deb >/dev/null 2>&1 && return
    say "downloading $package"
    if ! apt-get download -qq "$package" 2>/dev/null; then
        say "refreshing package lists"
        apt-get update -qq || fail "apt-get update failed"
        apt-get download -qq "$package" || fail "cannot download $package"
    fi
}

need_tools
clang="${CLANG:-$(command -v clang || true)}"
[ -n "$clang" ] || fail "no clang on PATH (the Swift toolchain has one; or set CLANG)"

if [ ! -s vmlinuz ]; then
    # The metapackage names the versioned image package in its Depends.
    image_package="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    if [ -z "$image_package" ]; then
        apt-get update -qq
        image_package="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    fi
    [ -n "$image_package" ] || fail "cannot resolve linux-image-cloud-amd64 to a kernel package"
    download "$image_package"
    rm -rf kernel-root && mkdir kernel-root
    dpkg-deb -x "${image_package}"_*.deb kernel-root
    cp kernel-root/boot/vmlinuz-* vmlinuz
    rm -rf kernel-root
    say "kernel: $image_package"
fi

if [ ! -s vmlinux ]; then
    say "extracting vmlinux from the bzImage's payload"
    # setup header: payload_offset at 0x248 and payload_length at 0x24C, relative to the protected-mode part,
    # which starts after (setup_sects + 1) * 512 bytes (setup_sects at 0x1F1).
    read -r setup_sects payload_offset payload_length < <(python3 - <<'PY'
import struct
data = open("vmlinuz", "rb").read(0x250)
print(data[0x1F1] or 4, *struct.unpack_from("<II", data, 0x248))
PY
)
    start=$(( (setup_sects + 1) * 512 + payload_offset ))
    magic="$(dd if=vmlinuz bs=1 skip="$start" count=4 status=none | od -An -tx1 | tr -d ' \n')"
    [ "$magic" = "02214c18" ] || fail "the kernel payload is not LZ4 (magic $magic); this script handles LZ4 only"
    dd if=vmlinuz bs=4096 iflag=skip_bytes,count_bytes skip="$start" count="$payload_length" status=none > payload.lz4
    lz4 -dq payload.lz4 vmlinux.tmp || true   # the payload has trailing size bytes lz4 warns about
    rm -f payload.lz4
    [ "$(head -c 4 vmlinux.tmp | od -An -tx1 | tr -d ' \n')" = "7f454c46" ] || fail "decompressed payload is not an ELF file"
    mv vmlinux.tmp vmlinux
fi

# The virtio modules (paths under lib/modules/*/kernel/), in the order their dependencies need (busybox insmod
# does not resolve them; this order follows the kernel package's modules.dep). virtio needs virtio_ring's
# virtio_break_device; virtio_pci needs the other four; virtio_net needs net_failover, which needs failover.
# hw_random's core is built in (CONFIG_HW_RANDOM=y), so virtio-rng needs only virtio.
virtio_modules="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
                drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci drivers/block/virtio_blk
                net/core/failover drivers/net/net_failover drivers/net/virtio_net drivers/char/virtio_console
                drivers/char/hw_random/virtio-rng"

busybox_tree() {  # busybox_tree DIR: a root with busybox and its applet links
    local root="$1"
    download busybox-static
    rm -rf busybox-root && mkdir busybox-root
    dpkg-deb -x busybox-static_*.deb busybox-root
    mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/mnt"
    cp busybox-root/bin/busybox "$root/bin/busybox"
    rm -rf busybox-root
    for tool in sh echo mount umount poweroff reboot cat sync insmod ls sleep mkdir dd ip ping nc sha256sum wc \
                head od tr; do
        ln -sf busybox "$root/bin/$tool"
    done
}

if [ ! -s initramfs.cpio.gz ] || [ "$(cat .initramfs-version 2>/dev/null)" != "$initramfs_version" ]; then
    say "building the initramfs"
    image_deb="$(ls linux-image-*.deb 2>/dev/null | head -1)"
    [ -n "$image_deb" ] || fail "the kernel package is gone from $cache; delete vmlinuz to fetch it again"
    rm -rf initramfs-root kernel-root && mkdir initramfs-root kernel-root
    busybox_tree initramfs-root
    dpkg-deb -x "$image_deb" kernel-root
    mkdir -p initramfs-root/lib/modules
    for module in $virtio_modules; do
        file="$(find kernel-root/lib/modules -path "*/kernel/$module.ko" | head -1)"
        [ -n "$file" ] || fail "the kernel package has no $module.ko"
        cp "$file" initramfs-root/lib/modules/
    done
    rm -rf kernel-root
    for source in "$here"/programs/*.c; do
        program="apus-$(basename "$source" .c)"
        "$clang" -O2 -static -nostdlib -ffreestanding -fno-stack-protector -o "initramfs-root/bin/$program" "$source" \
            || fail "cannot build $program from $source with $clang"
    done
    # Without apus.disktest the script is what it always was, so tests that expect APUS-INIT-OK keep passing.
    cat > initramfs-root/init <<'INIT'
#!/bin/sh
mount -t proc proc /proc
for module in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk \
              failover net_failover virtio_net virtio_console virtio-rng; do
    insmod /lib/modules/$module.ko || echo "APUS-INSMOD-FAILED $module"
done
case " $(cat /proc/cmdline) " in
*" apus.disktest "*)
    mount -t devtmpfs devtmpfs /dev
    if mount -t ext4 /dev/vda /mnt; then
        echo "written by the Apus guest" > /mnt/apus-disktest.txt
        ls /mnt/bin/busybox >/dev/null && echo "APUS-DISK-HAS-BUSYBOX"
        sync
        umount /mnt
        echo "APUS-DISK-WRITTEN"
    else
        echo "APUS-DISK-MOUNT-FAILED"
    fi
    poweroff -f
    ;;
*" apus.diskbench "*)
    # bench/disk/guest-io.sh: busybox dd with O_DIRECT (timed here from /proc/uptime, in centiseconds), then
    # apus-diskio's own figures, all on /dev/vda, which the benchmark gives the guest as a scratch disk.
    mount -t devtmpfs devtmpfs /dev
    mib=16
    ops=1000
    for word in $(cat /proc/cmdline); do
        case "$word" in apus.diskmib=*) mib="${word#apus.diskmib=}" ;; apus.diskops=*) ops="${word#apus.diskops=}" ;; esac
    done
    centiseconds() { read -r up rest </proc/uptime; echo "${up%.*}${up#*.}"; }
    start=$(centiseconds)
    dd if=/dev/zero of=/dev/vda bs=1M count="$mib" oflag=direct conv=fsync 2>/dev/null \
        && echo "APUS-DD seq-write $((mib * 1048576)) $(( $(centiseconds) - start ))"
    start=$(centiseconds)
    dd if=/dev/vda of=/dev/null bs=1M count="$mib" iflag=direct 2>/dev/null \
        && echo "APUS-DD seq-read $((mib * 1048576)) $(( $(centiseconds) - start ))"
    /bin/apus-diskio /dev/vda "$mib" "$ops"
    poweroff -f
    ;;
*" apus.nettest "*)
    # The network test (Tests/ApusVMMTests/LinuxVirtioNetTests): eth0 is 10.0.2.15/24, the host's TAP 10.0.2.1.
    # apus.netkib=N sets how many KiB go each way; the host listens on 5001 (sends) and 5002 (receives).
    mount -t devtmpfs devtmpfs /dev
    mount -t tmpfs tmpfs /mnt
    kib=64
    for word in $(cat /proc/cmdline); do case "$word" in apus.netkib=*) kib="${word#apus.netkib=}" ;; esac; done
    echo "APUS-HVC0-LINE from the guest" > /dev/hvc0 && echo "APUS-HVC0-WRITTEN"
    echo "APUS-HWRNG-BYTES $(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | wc -c)"
    ip link set lo up
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ping -c 2 -W 30 10.0.2.1 >/dev/null && echo "APUS-PING-OK"
    echo "APUS-RX-SHA $(nc 10.0.2.1 5001 </dev/null | sha256sum | head -c 64)"
    dd if=/dev/urandom of=/mnt/out bs=1024 count="$kib" 2>/dev/null
    echo "APUS-TX-SHA $(sha256sum /mnt/out | head -c 64)"
    nc 10.0.2.1 5002 </mnt/out && echo "APUS-TX-SENT"
    poweroff -f
    ;;
esac
echo APUS-INIT-OK
reboot -f
INIT
    chmod +x initramfs-root/init
    (cd initramfs-root && find . | cpio -o -H newc --quiet | gzip -9) > initramfs.tmp
    # rename(2): a test reading the old file meanwhile keeps reading it whole.
    mv initramfs.tmp initramfs.cpio.gz
    echo "$initramfs_version" > .initramfs-version
    rm -rf initramfs-root
fi

if [ ! -s rootfs.ext4 ]; then
    say "building the ext4 root image"
    rm -rf rootfs-root && mkdir rootfs-root
    busybox_tree rootfs-root
    mkfs=mkfs.ext4
    command -v mkfs.ext4 >/dev/null || mkfs=/sbin/mkfs.ext4
    rm -f rootfs.tmp
    "$mkfs" -q -F -L apus-root -E root_owner=0:0 -d rootfs-root rootfs.tmp 32M || fail "mkfs.ext4 -d failed"
    mv rootfs.tmp rootfs.ext4
    rm -rf rootfs-root
fi

say "ready:"
for file in vmlinuz vmlinux initramfs.cpio.gz rootfs.ext4; do echo "$cache/$file"; done
