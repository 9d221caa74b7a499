/// 256 bits, one per interrupt vector: the local APIC's IRR, ISR and TMR.
public struct VectorSet: Codable, Sendable, Equatable {
    public var words: [UInt64] = [0, 0, 0, 0]

    public init() {}

    public subscript(vector: UInt8) -> Bool {
        get { words[Int(vector >> 6)] & (1 << UInt64(vector & 63)) != 0 }
        set {
            let bit: UInt64 = 1 << UInt64(vector & 63)
            if newValue { words[Int(vector >> 6)] |= bit } else { words[Int(vector >> 6)] &= ~bit }
        }
    }

    /// The highest vector set, which is the one with the highest priority.
    public var highest: UInt8? {
        for index in stride(from: 3, through: 0, by: -1) where words[index] != 0 {
            return UInt8(index * 64 + 63 - words[index].leadingZeroBitCount)
        }
        return nil
    }

    /// Register `index` (0-7) of the 8 the APIC page shows, 32 vectors each.
    public func register(_ index: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: words[index / 2] >> (index % 2 == 0 ? 0 : 32))
    }

    var isWellFormed: Bool { words.count == 4 }
}
