#!/usr/bin/env bash
# Live migration and live snapshots of 256 MiB guests (issue 16): see the header of
# bench/Sources/apus-bench-migrate/main.swift for what is measured. Usage: bench/migrate/run.sh [ROUNDS]
# (BENCH_SCRATCH overrides the release build directory). Nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-1}"
scratch="${BENCH_SCRATCH:-.build-bench}"
export PATH="/opt/swift/usr/bin:$PATH"
echo "building (release)..." >&2
swift build -c release --product apus-bench-migrate --scratch-path "$scratch" >&2
bench="$(swift build -c release --product apus-bench-migrate --scratch-path "$scratch" --show-bin-path)/apus-bench-migrate"
for round in $(seq "$rounds"); do
    echo "round $round:"
    "$bench"
done
