#!/usr/bin/env bash
# Disk-image figures (release build): clone creation over a 1 GiB template, raw and qcow2 (goal: <= 5 ms), and qcow2
# throughput through ApusDisk next to `qemu-img bench` on the same image layout, in the same run. qemu-img comes from
# Debian's qemu-utils. No figure here is asserted. These are host-side figures of the image layer; in-guest I/O
# through virtio-blk next to QEMU TCG is bench/disk/guest-io.sh.
# Usage: bench/disk/run.sh [ROUNDS] [CLONES]   (BENCH_SCRATCH overrides the release build directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
clones="${2:-50}"
scratch="${BENCH_SCRATCH:-.build-bench}"
export PATH="/opt/swift/usr/bin:$PATH"
if ! command -v qemu-img >/dev/null; then
    echo "installing qemu-utils (for the qemu-img reference)..." >&2
    apt-get install -y qemu-utils >&2 || { apt-get update >&2 && apt-get install -y qemu-utils >&2; }
fi
echo "building (release)..." >&2
swift build -c release --product apus-bench-disk --scratch-path "$scratch" >&2
bench="$(swift build -c release --product apus-bench-disk --scratch-path "$scratch" --show-bin-path)/apus-bench-disk"
echo "qemu-img $(qemu-img --version | head -1 | awk '{print $3}'), files on $(df -T /tmp | awk 'NR==2 {print $2}') (/tmp)"
for round in $(seq "$rounds"); do
    work="$(mktemp -d /tmp/apus-bench-disk.XXXXXX)"
    echo "round $round:"
    "$bench" "$work" "$clones"
    rm -rf "$work"
done
