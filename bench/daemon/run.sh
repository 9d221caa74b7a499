#!/usr/bin/env bash
# apusd: API latency (GET /v1/vms/{id} against a raw Unix-socket round trip measured in the same run), pause and
# resume latency, suspend/resume time of a 256 MiB guest with 248 MiB in use (against writing and fsyncing 256 MiB),
# and daemon RSS idle and per additional VM (goal: <= 3 MiB per VM beyond guest memory). Release build.
# Usage: bench/daemon/run.sh [ROUNDS] [VMS]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
echo "building (release)..." >&2
swift build -c release --product apusd --scratch-path .build-bench >&2
swift build -c release --product apus-bench-daemon --scratch-path .build-bench >&2
bin="$(swift build -c release --scratch-path .build-bench --show-bin-path)"
"$bin/apus-bench-daemon" "$bin/apusd" "${1:-2000}" "${2:-10}"
