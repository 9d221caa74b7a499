#!/usr/bin/env bash
# Software CPU speed: guest MIPS of Apus's soft CPU (release build) next to QEMU's TCG (Debian's qemu-system-x86_64
# -accel tcg) on the same guest image bytes, in the same run, for two guests:
#   bench-compute  guests/bench-compute.S: ALU plus one store and one load per iteration, 6 instructions
#   bench-paging   guests/bench-paging.S: read-modify-write in a 32 MiB buffer of 4 KiB pages, a new page every
#                  iteration (TLB misses), 7 instructions
# Both are Multiboot ELF32 images: Apus enters them through its ELF32 loader, QEMU through `-kernel`, and
# isa-debug-exit on port 0xF4 ends QEMU's run. Each side is timed in CPU time (user + system: Apus's vCPU thread, the
# whole qemu process), so other load on a shared machine disturbs little, once with N iterations and once with zero;
# the difference is divided into N x instructions-per-iteration, so QEMU's start-up time (and the guests' own set-up)
# is subtracted from both. N starts at ITERATIONS and grows (towards 1.5 s of loop) while a loop takes under a second
# (QEMU's JIT runs the compute loop far faster). Goal (issue 3): >= 60 MIPS on the compute guest. No figure here is asserted.
# Usage: bench/softcpu/run.sh [ITERATIONS] [ROUNDS]   (BENCH_SCRATCH overrides the release build directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations="${1:-5000000}"
rounds="${2:-3}"
scratch="${BENCH_SCRATCH:-.build-bench}"
export PATH="/opt/swift/usr/bin:$PATH"
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "installing qemu-system-x86 (for the TCG reference)..." >&2
    apt-get install -y qemu-system-x86 >&2 || { apt-get update >&2 && apt-get install -y qemu-system-x86 >&2; }
fi
echo "building (release)..." >&2
swift build -c release --product apus-bench-softcpu --scratch-path "$scratch" >&2
bench="$(swift build -c release --product apus-bench-softcpu --scratch-path "$scratch" --show-bin-path)/apus-bench-softcpu"
echo "MIPS of the timed loop in CPU time (user+sys): (run with N iterations) - (run with 0), so start-up time is" \
     "subtracted on both sides; N starts at $iterations and grows while a loop takes under 1 s; QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') -accel tcg -cpu qemu64"
for round in $(seq "$rounds"); do
    echo "round $round:"
    "$bench" "$iterations" --qemu "$(command -v qemu-system-x86_64)"
done
