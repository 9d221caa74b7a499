#!/usr/bin/env bash
# apusd clone creation over a 1 GiB raw template (p50/p99 over CLONES clones through the API; goal: <= 5 ms) next to
# `qemu-img create -b` on the same base in the same run. Release build; qemu-img from Debian's qemu-utils.
# Usage: bench/clone/run.sh [CLONES] [ROUNDS]   (BENCH_SCRATCH overrides the release build directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
clones="${1:-200}"
rounds="${2:-1}"
scratch="${BENCH_SCRATCH:-.build-bench}"
export PATH="/opt/swift/usr/bin:$PATH"
if ! command -v qemu-img >/dev/null; then
    echo "installing qemu-utils (for the qemu-img reference)..." >&2
    apt-get install -y qemu-utils >&2 || { apt-get update >&2 && apt-get install -y qemu-utils >&2; }
fi
echo "building (release)..." >&2
swift build -c release --product apusd --scratch-path "$scratch" >&2
swift build -c release --product apus-bench-clone --scratch-path "$scratch" >&2
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)"
echo "files on $(df -T /tmp | awk 'NR==2 {print $2}') (/tmp)"
for round in $(seq "$rounds"); do
    work="$(mktemp -d /tmp/apus-bench-clone.XXXXXX)"
    echo "round $round:"
    "$bin/apus-bench-clone" "$bin/apusd" "$work" "$clones"
    rm -rf "$work"
done
