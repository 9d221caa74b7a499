/// x87, MMX and SSE state in the 512-byte FXSAVE layout (SDM Vol. 1, 10.5.1), the form both backends exchange.
public struct FPUState: Equatable, Sendable, Codable {
    public static let size = 512
    public var fxsave: [UInt8]

    public init(fxsave: [UInt8]) {
        precondition(fxsave.count == Self.size, "FXSAVE area must be 512 bytes")
        self.fxsave = fxsave
    }

    /// The state after FNINIT and a reset MXCSR: FCW 0x37F, empty tag word, MXCSR 0x1F80.
    public init() {
        var area = [UInt8](repeating: 0, count: Self.size)
        area[0] = 0x7F; area[1] = 0x03
        area[24] = 0x80; area[25] = 0x1F
        self.fxsave = area
    }

    public var controlWord: UInt16 {
        get { UInt16(fxsave[0]) | UInt16(fxsave[1]) << 8 }
        set { fxsave[0] = UInt8(newValue & 0xFF); fxsave[1] = UInt8(newValue >> 8) }
    }

    public var mxcsr: UInt32 {
        get { (24..<28).reversed().reduce(0) { $0 << 8 | UInt32(fxsave[$1]) } }
        set { for i in 0..<4 { fxsave[24 + i] = UInt8(truncatingIfNeeded: newValue >> (8 * UInt32(i))) } }
    }

    /// XMM register `index` (0-15) as two little-endian 64-bit halves.
    public func xmm(_ index: Int) -> (low: UInt64, high: UInt64) {
        let base = 160 + index * 16
        func word(_ at: Int) -> UInt64 { (0..<8).reversed().reduce(0) { $0 << 8 | UInt64(fxsave[at + $1]) } }
        return (word(base), word(base + 8))
    }

    public mutating func setXMM(_ index: Int, low: UInt64, high: UInt64) {
        let base = 160 + index * 16
        for i in 0..<8 {
            fxsave[base + i] = UInt8(truncatingIfNeeded: low >> (8 * UInt64(i)))
            fxsave[base + 8 + i] = UInt8(truncatingIfNeeded: high >> (8 * UInt64(i)))
        }
    }
}
