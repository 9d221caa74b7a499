/// Little-endian field access on byte arrays, for building and checking images and tables.
func put(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64, _ size: Int) {
    for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
}

func get(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> UInt64 {
    (0..<size).reversed().reduce(0) { $0 << 8 | UInt64(bytes[offset + $1]) }
}
