/// What a base address register decodes: its kind and size (a power of two), fixed when the function is built.
public struct PCIBarDefinition: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case io
        case memory32
        /// Takes this BAR and the next one (the high half).
        case memory64
    }

    public var kind: Kind
    public var size: UInt64
    public var prefetchable: Bool

    public init(kind: Kind, size: UInt64, prefetchable: Bool = false) {
        precondition(size >= (kind == .io ? 4 : 16) && size & (size - 1) == 0, "a BAR size is a power of two")
        self.kind = kind
        self.size = size
        self.prefetchable = prefetchable
    }

    /// The read-only type bits in the low bits of the register.
    var typeBits: UInt32 {
        switch kind {
        case .io: return 0x1
        case .memory32: return prefetchable ? 0x8 : 0
        case .memory64: return 0x4 | (prefetchable ? 0x8 : 0)
        }
    }
}
