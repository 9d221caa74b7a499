#!/usr/bin/env bash
# Interrupt delivery cost: one self-IPI round trip through the local APIC on the software CPU and on KVM (split
# irqchip), in the same run, with their ratio. Usage: bash bench/ipi/run.sh [SOFT-ITERATIONS] [KVM-ITERATIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
soft=${1:-100000}
kvm=${2:-2000}
rounds=${3:-3}
swift build -c release --product apus-bench-ipi >/dev/null
binary=$(swift build -c release --show-bin-path)/apus-bench-ipi
for round in $(seq 1 "$rounds"); do
    echo "round $round:"
    "$binary" "$soft" "$kvm"
done
