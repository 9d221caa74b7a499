/// "0x1000000": how addresses appear in messages and summaries.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// A size for people: "512 bytes", "4.0 KiB", "3.1 MiB", "2.0 GiB" (one decimal, rounded down).
func formatBytes(_ bytes: UInt64) -> String {
    for (shift, name) in [(UInt64(30), "GiB"), (20, "MiB"), (10, "KiB")] where bytes >> shift > 0 {
        let tenths = ((bytes & ((1 << shift) - 1)) * 10) >> shift
        return "\(bytes >> shift).\(tenths) \(name)"
    }
    return "\(bytes) bytes"
}

/// A boot protocol version as boot.rst writes it: "2.15" for 0x020F.
func protocolString(_ version: UInt16) -> String {
    let minor = version & 0xFF
    return "\(version >> 8).\(minor < 10 ? "0" : "")\(minor)"
}
