#!/usr/bin/env bash
# PIO exit round trip: Apus's KVM exit path against a raw C KVM_RUN loop on the same guest, in the same run.
# Goal: Apus <= 1.05 x raw. Usage: bench/pio-roundtrip/run.sh [EXITS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
exits="${1:-200000}"
rounds="${2:-3}"
export PATH="/opt/swift/usr/bin:$PATH"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "pio-roundtrip: /dev/kvm is not usable here; this benchmark needs KVM" >&2; exit 1; }

out=bench/out
mkdir -p "$out"
echo "building (release)..." >&2
swift build -c release --product apus-bench-pio --scratch-path .build-bench >&2
bench="$(swift build -c release --product apus-bench-pio --scratch-path .build-bench --show-bin-path)/apus-bench-pio"
clang -O2 -o "$out/raw-kvm-loop" bench/pio-roundtrip/raw-kvm-loop.c
"$bench" --write-guest "$out/piobench.bin"

apus_total=0; raw_total=0
for round in $(seq "$rounds"); do
    raw=$("$out/raw-kvm-loop" "$out/piobench.bin" "$exits" | awk "{print \$(NF-4)}")
    apus=$("$bench" --exits "$exits" | awk "{print \$(NF-4)}")
    echo "round $round: raw $raw ns, apus $apus ns"
    raw_total=$(echo "$raw_total + $raw" | bc -l); apus_total=$(echo "$apus_total + $apus" | bc -l)
done
raw_mean=$(echo "$raw_total / $rounds" | bc -l); apus_mean=$(echo "$apus_total / $rounds" | bc -l)
printf "PIO round trip over %d rounds of %d exits: raw C %.1f ns, Apus %.1f ns, ratio %.3f (goal <= 1.05)\n" \
    "$rounds" "$exits" "$raw_mean" "$apus_mean" "$(echo "$apus_mean / $raw_mean" | bc -l)"
