#!/usr/bin/env bash
# Linux on the software CPU: wall time for Debian's cloud kernel (guests/linux/fetch.sh) to boot to the busybox
# initramfs's /init (the APUS-INIT-OK line) and to end the run with its `reboot -f`, on Apus's soft CPU (release
# build, `apus run --backend soft`) next to QEMU's TCG (Debian's qemu-system-x86_64 -accel tcg, its JIT) and QEMU
# TCG with -singlestep (one instruction per translation block, the closest QEMU gets to an interpreter), all with the
# same bzImage, initramfs and command line, 256 MiB, one vCPU, in the same run. Ratios are Apus / reference.
# No figure here is asserted.
# Usage: bench/linux-soft/run.sh [ROUNDS]   (BENCH_SCRATCH overrides the release build directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-2}"
scratch="${BENCH_SCRATCH:-.build-bench}"
export PATH="/opt/swift/usr/bin:$PATH"
bash guests/linux/fetch.sh >/dev/null
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "installing qemu-system-x86 (for the TCG reference)..." >&2
    apt-get install -y qemu-system-x86 >&2 || { apt-get update >&2 && apt-get install -y qemu-system-x86 >&2; }
fi
echo "building (release)..." >&2
swift build -c release --product apus --scratch-path "$scratch" >&2
apus="$(swift build -c release --product apus --scratch-path "$scratch" --show-bin-path)/apus"
kernel=guests/linux/cache/vmlinuz
initrd=guests/linux/cache/initramfs.cpio.gz
cmdline="console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1"
qemu=(qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nographic -no-reboot -kernel "$kernel" -initrd "$initrd"
      -append "$cmdline")
echo "seconds to APUS-INIT-OK / to the end of the run; QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}')"
for round in $(seq "$rounds"); do
    python3 bench/linux-soft/time-boot.py \
        "apus soft" -- "$apus" run --backend soft --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
        ::: "qemu tcg" -- "${qemu[@]}" \
        ::: "qemu tcg -singlestep" -- "${qemu[@]}" -singlestep \
        | sed "s/^/round $round: /"
done
