#!/usr/bin/env bash
# Fetches Debian's cloud kernel and busybox-static with apt-get (nothing is committed), then prepares:
#   cache/vmlinuz              the bzImage as Debian ships it
#   cache/vmlinux              the uncompressed ELF kernel, extracted from the bzImage's LZ4 payload
#   cache/initramfs.cpio.gz    busybox with an /init that prints APUS-INIT-OK and reboots (which ends the run)
# Idempotent: work already done is skipped; concurrent runs wait for each other (flock). Needs apt-get, dpkg-deb,
# lz4 and cpio (installed when missing, as root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
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

if [ ! -s initramfs.cpio.gz ]; then
    download busybox-static
    say "building the initramfs"
    rm -rf busybox-root initramfs-root && mkdir busybox-root initramfs-root
    dpkg-deb -x busybox-static_*.deb busybox-root
    mkdir -p initramfs-root/bin initramfs-root/proc initramfs-root/sys initramfs-root/dev
    cp busybox-root/bin/busybox initramfs-root/bin/busybox
    for tool in sh echo mount poweroff reboot cat; do ln -sf busybox "initramfs-root/bin/$tool"; done
    cat > initramfs-root/init <<'INIT'
#!/bin/sh
mount -t proc proc /proc
echo APUS-INIT-OK
reboot -f
INIT
    chmod +x initramfs-root/init
    (cd initramfs-root && find . | cpio -o -H newc --quiet | gzip -9) > initramfs.cpio.gz
    rm -rf busybox-root initramfs-root
fi

say "ready:"
for file in vmlinuz vmlinux initramfs.cpio.gz; do echo "$cache/$file"; done
