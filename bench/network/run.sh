#!/usr/bin/env bash
# Network throughput between a Linux guest and the host over virtio-net on a TAP, Apus's software CPU next to QEMU
# TCG (Debian's qemu-system-x86, installed when missing) with the same kernel, initramfs and command line, in the
# same run. Each guest runs /init's `apus.nettest` (guests/linux/fetch.sh): ping, then KIB KiB host->guest and
# guest->host with busybox nc; peer.py times each direction from accept to end of stream and checks the upload's
# SHA-256 against the one the guest prints. Everything runs in a throwaway network namespace (needs root).
# Usage: bench/network/run.sh [KIB] [ROUNDS]   (default 65536 KiB = 64 MiB; APUS_BIN picks the apus binary,
# default the release build in .build-bench; NET_BENCH_TIMEOUT bounds each guest, default 3600 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
kib="${1:-65536}"
rounds="${2:-1}"
export PATH="/opt/swift/usr/bin:$PATH"
[ "$(id -u)" -eq 0 ] || { echo "bench/network: needs root (network namespace and TAP)" >&2; exit 1; }
bash guests/linux/fetch.sh >/dev/null
cache=guests/linux/cache
repo="$PWD"
if [ -z "${APUS_BIN:-}" ]; then
    echo "building apus (release)..." >&2
    swift build -c release --product apus --scratch-path .build-bench >&2
    APUS_BIN="$(swift build -c release --product apus --scratch-path .build-bench --show-bin-path)/apus"
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "installing qemu-system-x86 (the QEMU TCG reference)..." >&2
    apt-get install -y -qq qemu-system-x86 >&2 || { apt-get update -qq >&2 && apt-get install -y -qq qemu-system-x86 >&2; }
fi
work="$(mktemp -d /tmp/apus-bench-net.XXXXXX)"
namespace="apus-bench-net-$$"
cleanup() { ip netns delete "$namespace" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$namespace"
ip -n "$namespace" link set lo up
head -c "$((kib * 1024))" /dev/urandom > "$work/to-guest"
# The guest hashes the download after it has arrived (to tmpfs), not inside the timed pipe: a copy of the test
# initramfs whose /init stores nc's output first. The upload is hashed before it is sent, as in the test.
mkdir "$work/initrd"
(cd "$work/initrd" && gzip -dc "$repo/$cache/initramfs.cpio.gz" | cpio -id --quiet)
python3 - "$work/initrd/init" <<'PATCH'
import sys
path = sys.argv[1]
text = open(path).read()
piped = '    echo "APUS-RX-SHA $(nc 10.0.2.1 5001 </dev/null | sha256sum | head -c 64)"\n'
stored = ('    nc 10.0.2.1 5001 </dev/null >/mnt/in\n'
          '    echo "APUS-RX-SHA $(sha256sum /mnt/in | head -c 64)"\n    rm /mnt/in\n')
if piped not in text:
    sys.exit("bench/network: the initramfs's nettest no longer has the expected download line")
open(path, "w").write(text.replace(piped, stored))
PATCH
(cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.cpio.gz"
initrd="$work/initramfs.cpio.gz"
cmdline="console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 nokaslr apus.nettest apus.netkib=$kib"

one() {  # one NAME COMMAND...: boots a guest with the peer listening; prints the peer's figures
    local name="$1"; shift
    ip -n "$namespace" tuntap add dev benchtap mode tap
    ip -n "$namespace" addr add 10.0.2.1/24 dev benchtap
    ip -n "$namespace" link set benchtap up
    rm -f "$work/vmm.pid"
    ip netns exec "$namespace" python3 bench/network/peer.py "$work/to-guest" 10.0.2.1 "$work/vmm.pid" \
        > "$work/peer.txt" &
    local peer=$!
    sleep 0.5
    local start=$SECONDS
    # A guest that never finishes (or never connects) must not hang the benchmark. The VMM's pid lets the peer
    # count the CPU time it used.
    ip netns exec "$namespace" timeout "${NET_BENCH_TIMEOUT:-3600}" "$@" > "$work/console.txt" 2>&1 &
    local vmm=$!
    echo "$vmm" > "$work/vmm.pid"
    wait "$vmm" || true
    sleep 1
    kill "$peer" 2>/dev/null || true
    wait "$peer" 2>/dev/null || true
    ip -n "$namespace" link delete benchtap 2>/dev/null || true
    local tx_sha
    tx_sha="$(grep -a -o 'APUS-TX-SHA [0-9a-f]*' "$work/console.txt" | awk '{print $2}')"
    echo "$name ($((SECONDS - start)) s for the whole run):"
    sed 's/^/  /' "$work/peer.txt"
    grep -q "sha256 $tx_sha" "$work/peer.txt" && [ -n "$tx_sha" ] && echo "  upload SHA-256 matches the guest's" \
        || echo "  upload SHA-256 does NOT match the guest's ($tx_sha)"
    grep -a -q "APUS-RX-SHA $(sha256sum "$work/to-guest" | head -c 64)" "$work/console.txt" \
        && echo "  download SHA-256 matches" || echo "  download SHA-256 does NOT match"
}

for round in $(seq "$rounds"); do
    echo "round $round ($kib KiB each way):"
    one "apus soft CPU" "$APUS_BIN" run --backend soft --kernel "$cache/vmlinux" --initrd "$initrd" \
        --memory 512 --net tap=benchtap,mac=52:54:00:12:34:56 --rng --console2 "$work/hvc0.txt" --cmdline "$cmdline"
    one "QEMU TCG" qemu-system-x86_64 -accel tcg -cpu max -m 512 -nographic -no-reboot \
        -kernel "$cache/vmlinuz" -initrd "$initrd" -append "$cmdline" \
        -netdev tap,id=n0,ifname=benchtap,script=no,downscript=no \
        -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56 -device virtio-rng-pci \
        -chardev file,id=c2,path="$work/hvc0-qemu.txt" -device virtio-serial-pci -device virtconsole,chardev=c2
done
