#!/usr/bin/env bash
# Software CPU speed: guest MIPS on a compute loop in 64-bit long mode with paging (release build).
# Goal (issue 3): >= 60 MIPS. The side-by-side QEMU TCG run on the same guest is not wired in yet.
# Usage: bench/softcpu/run.sh [ITERATIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations="${1:-5000000}"
rounds="${2:-3}"
export PATH="/opt/swift/usr/bin:$PATH"
echo "building (release)..." >&2
swift build -c release --product apus-bench-softcpu --scratch-path .build-bench >&2
bench="$(swift build -c release --product apus-bench-softcpu --scratch-path .build-bench --show-bin-path)/apus-bench-softcpu"
for round in $(seq "$rounds"); do "$bench" "$iterations"; done
