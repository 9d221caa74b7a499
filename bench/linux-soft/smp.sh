#!/usr/bin/env bash
# Linux on the software CPU with several vCPUs, next to QEMU TCG (multi-threaded) with the same -smp, in one run:
# for each N in VCPUS (default "1 2 4"), the wall time from start to the init's APUS-INIT-OK line, and
# guests/linux/smp/smpcount.c's LOCK XADD counter with 1 thread and with N threads (milliseconds inside the guest;
# the speed-up is 1-thread time x N / N-thread time, since each thread does the same 1,000,000 adds).
# Usage: bash bench/linux-soft/smp.sh [APUS-BINARY] ["1 2 4"]   (a release build: swift build -c release --product apus
# --scratch-path .build-bench). Needs fetch.sh's cache, clang, cpio, gzip; QEMU (qemu-system-x86) if installed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
apus="${1:-$root/.build-bench/release/apus}"
counts="${2:-1 2 4}"
cache="$root/guests/linux/cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/extra/bin"
clang -O2 -static -nostdlib -ffreestanding -fno-stack-protector -o "$work/extra/bin/apus-smpcount" \
    "$root/guests/linux/smp/smpcount.c"
cat > "$work/extra/smpbench.sh" <<'INIT'
#!/bin/sh
echo APUS-INIT-OK
mount -t proc proc /proc
/bin/apus-smpcount 1
/bin/apus-smpcount "$(nproc)"
poweroff -f
INIT
chmod +x "$work/extra/smpbench.sh"
(cd "$work/extra" && find . | cpio -o -H newc 2>/dev/null) > "$work/extra.cpio"
gzip -dc "$cache/initramfs.cpio.gz" > "$work/base.cpio"
cat "$work/base.cpio" "$work/extra.cpio" > "$work/initramfs.cpio"
cmdline="console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 rdinit=/smpbench.sh"

# run NAME COMMAND...: prints NAME, seconds to APUS-INIT-OK, seconds to the end, and the two counter lines.
run() {
    local name="$1"; shift
    local start marker="" line
    start=$(date +%s.%N)
    while IFS= read -r line; do
        case "$line" in
        *APUS-INIT-OK*) [ -n "$marker" ] || marker=$(echo "$(date +%s.%N) - $start" | bc) ;;
        APUS-SMPCOUNT*) echo "$name: $line" ;;
        esac
    done < <(timeout 900 "$@" 2>&1 < /dev/null)
    echo "$name: init after ${marker:-never} s, ended after $(echo "$(date +%s.%N) - $start" | bc) s"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $counts; do
    run "apus soft --vcpus $n" "$apus" run --backend soft --vcpus "$n" --memory 256 --kernel "$cache/vmlinux" \
        --initrd "$work/initramfs.cpio" --cmdline "$cmdline"
    if command -v qemu-system-x86_64 >/dev/null; then
        run "qemu tcg -smp $n" qemu-system-x86_64 -accel tcg,thread=multi -smp "$n" -m 256 -cpu max -nographic \
            -no-reboot -kernel "$cache/vmlinuz" -initrd "$work/initramfs.cpio" -append "$cmdline"
    fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
