#!/usr/bin/env bash
# In-guest disk figures over virtio-blk: Apus (software CPU by default) next to QEMU TCG (Debian's qemu-system-x86,
# installed when missing) with the same kernel, initramfs, command line and a fresh scratch image of the same format
# (raw, then qcow2) in the same run. /init's `apus.diskbench` (guests/linux/fetch.sh) runs busybox dd with O_DIRECT
# (1 MiB blocks; timed in the guest from /proc/uptime, 10 ms resolution) and apus-diskio (programs/diskio.c: O_DIRECT
# sequential 1 MiB and random 4 KiB, timed with CLOCK_MONOTONIC in the guest), so boot time never counts.
# Prints MB/s (10^6 bytes) or IOPS per row and the ratio Apus/QEMU (above 1: Apus is faster).
# Usage: bench/disk/guest-io.sh [MIB] [OPS] [ROUNDS] [FORMATS]   (defaults 16 MiB, 1000 random ops, 1 round,
# "raw qcow2"). APUS_BIN picks the apus binary (default: the release build in .build-bench); APUS_BACKEND=kvm
# measures Apus on KVM instead (QEMU stays TCG); DISK_BENCH_TIMEOUT bounds each guest (default 1800 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
mib="${1:-16}"
ops="${2:-1000}"
rounds="${3:-1}"
formats="${4:-raw qcow2}"
backend="${APUS_BACKEND:-soft}"
export PATH="/opt/swift/usr/bin:$PATH"
bash guests/linux/fetch.sh >/dev/null
if [ -z "${APUS_BIN:-}" ]; then
    echo "building apus (release)..." >&2
    swift build -c release --product apus --scratch-path .build-bench >&2
    APUS_BIN="$(swift build -c release --product apus --scratch-path .build-bench --show-bin-path)/apus"
fi
for tool in qemu-system-x86_64 qemu-img; do
    command -v "$tool" >/dev/null && continue
    echo "installing qemu-system-x86 and qemu-utils (the QEMU TCG reference)..." >&2
    apt-get install -y -qq qemu-system-x86 qemu-utils >&2 \
        || { apt-get update -qq >&2 && apt-get install -y -qq qemu-system-x86 qemu-utils >&2; }
done
work="$(mktemp -d /tmp/apus-bench-guest-io.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The cache is shared with other checkouts, which may rebuild it meanwhile: boot a private copy that has the program.
cp guests/linux/cache/vmlinux guests/linux/cache/vmlinuz guests/linux/cache/initramfs.cpio.gz "$work/"
gzip -dc "$work/initramfs.cpio.gz" | cpio -it --quiet | grep -qx 'bin/apus-diskio' \
    || { echo "bench/disk: the initramfs has no bin/apus-diskio (another checkout rebuilt it?); run again" >&2; exit 1; }
# The image must hold the sequential range; the random range is the same blocks.
image_mib=$((mib + 16))
cmdline="console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 nokaslr no_timer_check apus.diskbench apus.diskmib=$mib apus.diskops=$ops"

scratch_image() {  # scratch_image FORMAT PATH: a fresh, empty image
    if [ "$1" = raw ]; then truncate -s "${image_mib}M" "$2"; else qemu-img create -q -f qcow2 "$2" "${image_mib}M"; fi
}

boot() {  # boot NAME FORMAT COMMAND...: runs one guest and keeps its console in $work/NAME.txt
    local name="$1" format="$2"; shift 2
    scratch_image "$format" "$work/$name.img"
    timeout "${DISK_BENCH_TIMEOUT:-1800}" "$@" > "$work/$name.txt" 2>&1 || true
    grep -aq APUS-DISKIO-DONE "$work/$name.txt" || {
        echo "  $name did not finish (console tail follows)"; tail -5 "$work/$name.txt" | sed 's/^/    /'; }
    if [ "$format" = qcow2 ]; then
        qemu-img check -q "$work/$name.img" || echo "  qemu-img check found errors in $name's image"
    fi
}

figure() {  # figure CONSOLE TEST: "MB/s" for sequential rows, "IOPS" for random rows; empty when missing
    awk -v test="$2" '
        $1 == "APUS-DD" && "dd-" $2 == test && $4 > 0 { printf "%.2f", $3 / ($4 / 100) / 1e6; exit }
        $1 == "APUS-DISKIO" && $2 == test && $5 > 0 {
            if (test ~ /^rand/) printf "%.0f", $4 / ($5 / 1e9); else printf "%.2f", $3 / ($5 / 1e9) / 1e6; exit }
    ' "$1" | tr -d '\r'
}

echo "apus $backend ($APUS_BIN) vs $(qemu-system-x86_64 --version | head -1) -accel tcg; $mib MiB sequential, $ops x 4 KiB random; load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    for format in $formats; do
        boot apus "$format" "$APUS_BIN" run --backend "$backend" --kernel "$work/vmlinux" --initrd "$work/initramfs.cpio.gz" \
            --memory 512 --disk "$work/apus.img" --cmdline "$cmdline"
        boot qemu "$format" qemu-system-x86_64 -accel tcg -cpu max -m 512 -nographic -no-reboot \
            -kernel "$work/vmlinuz" -initrd "$work/initramfs.cpio.gz" -append "$cmdline" \
            -drive file="$work/qemu.img",format="$format",if=none,id=d0 -device virtio-blk-pci,drive=d0
        echo "round $round, $format image:"
        printf '  %-16s %12s %12s %8s\n' test apus qemu-tcg apus/qemu
        for test in dd-seq-write dd-seq-read seq-write seq-read rand-read rand-write; do
            a="$(figure "$work/apus.txt" "$test")"
            q="$(figure "$work/qemu.txt" "$test")"
            unit="MB/s"; [[ "$test" == rand-* ]] && unit="IOPS"
            ratio="$(awk -v a="$a" -v q="$q" 'BEGIN { if (a != "" && q != "" && q > 0) printf "%.2f", a / q; else print "-" }')"
            printf '  %-16s %12s %12s %8s\n' "$test ($unit)" "${a:--}" "${q:--}" "$ratio"
        done
        grep -aq APUS-DISKIO-MISMATCH "$work/apus.txt" "$work/qemu.txt" && echo "  DATA MISMATCH reported by a guest"
    done
done
echo "load afterwards $(cut -d' ' -f1-3 /proc/loadavg)"
