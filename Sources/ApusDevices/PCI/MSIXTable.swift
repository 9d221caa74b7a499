/// An MSI-X capability's table and pending-bit array (PCI Local Bus 3.0, 6.8.2), kept as memory in a BAR, plus the
/// delivery rule: a vector fires only when MSI-X is enabled, neither the function nor the entry is masked; otherwise
/// it becomes pending and fires when unmasked.
public struct MSIXTable: Codable, Equatable, Sendable {
    public static let capabilityID: UInt8 = 0x11
    public static let entrySize = 16

    /// Four dwords per entry: address low, address high, data, vector control (bit 0 masks).
    public private(set) var entries: [UInt32]
    public private(set) var pending: [Bool]
    /// The capability's offset in configuration space.
    public let capabilityOffset: Int

    public var count: Int { pending.count }

    /// Adds the capability to `config`: the table at `tableOffset` and the PBA at `pbaOffset` of BAR `bar`.
    public init(vectors: Int, config: inout PCIConfigSpace, bar: Int, tableOffset: UInt32, pbaOffset: UInt32) {
        precondition((1...2048).contains(vectors))
        entries = (0..<vectors).flatMap { _ in [UInt32(0), 0, 0, 1] }  // masked at reset
        pending = [Bool](repeating: false, count: vectors)
        var body = [UInt8](repeating: 0, count: 10)
        let control = UInt16(vectors - 1)
        body[0] = UInt8(truncatingIfNeeded: control)
        body[1] = UInt8(control >> 8)
        for i in 0..<4 { body[2 + i] = UInt8(truncatingIfNeeded: (tableOffset | UInt32(bar)) >> (8 * UInt32(i))) }
        for i in 0..<4 { body[6 + i] = UInt8(truncatingIfNeeded: (pbaOffset | UInt32(bar)) >> (8 * UInt32(i))) }
        // Only the enable (bit 15) and function mask (bit 14) bits of message control are writable.
        capabilityOffset = config.addCapability(id: Self.capabilityID, body: body,
                                                writableBody: [0, 0xC0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    public func isEnabled(_ config: PCIConfigSpace) -> Bool {
        config.read(offset: capabilityOffset + 2, size: 2) & 0x8000 != 0
    }

    func functionMasked(_ config: PCIConfigSpace) -> Bool {
        config.read(offset: capabilityOffset + 2, size: 2) & 0x4000 != 0
    }

    // MARK: - Table and PBA as memory

    public func readTable(offset: UInt64, size: Int) -> UInt64 {
        guard offset % 4 == 0, size == 4 || size == 8, offset + UInt64(size) <= UInt64(entries.count * 4) else { return 0 }
        let index = Int(offset / 4)
        return size == 4 ? UInt64(entries[index]) : UInt64(entries[index]) | UInt64(entries[index + 1]) << 32
    }

    /// A table write; returns messages that became deliverable because an entry was unmasked with its bit pending.
    public mutating func writeTable(offset: UInt64, size: Int, value: UInt64,
                                    config: PCIConfigSpace) -> [(address: UInt64, data: UInt32)] {
        guard offset % 4 == 0, size == 4 || size == 8, offset + UInt64(size) <= UInt64(entries.count * 4) else { return [] }
        let index = Int(offset / 4)
        entries[index] = UInt32(truncatingIfNeeded: value)
        if size == 8 { entries[index + 1] = UInt32(truncatingIfNeeded: value >> 32) }
        return flushPending(config: config)
    }

    public func readPBA(offset: UInt64, size: Int) -> UInt64 {
        guard size == 4 || size == 8, offset % 4 == 0 else { return 0 }
        var value: UInt64 = 0
        for bit in 0..<(size * 8) {
            let vector = Int(offset) * 8 + bit
            if vector < pending.count, pending[vector] { value |= 1 << UInt64(bit) }
        }
        return value
    }

    // MARK: - Signalling

    /// Vector `vector` fires: the message to deliver now, or nil when it is left pending (or out of range).
    public mutating func signal(_ vector: Int, config: PCIConfigSpace) -> (address: UInt64, data: UInt32)? {
        guard vector >= 0, vector < count else { return nil }
        if masked(vector, config) {
            pending[vector] = true
            return nil
        }
        return message(vector)
    }

    /// After the function mask or an entry mask clears: pending vectors that may now fire.
    public mutating func flushPending(config: PCIConfigSpace) -> [(address: UInt64, data: UInt32)] {
        var messages: [(address: UInt64, data: UInt32)] = []
        for vector in 0..<count where pending[vector] && !masked(vector, config) {
            pending[vector] = false
            messages.append(message(vector))
        }
        return messages
    }

    private func masked(_ vector: Int, _ config: PCIConfigSpace) -> Bool {
        !isEnabled(config) || functionMasked(config) || entries[vector * 4 + 3] & 1 != 0
    }

    private func message(_ vector: Int) -> (address: UInt64, data: UInt32) {
        (UInt64(entries[vector * 4]) | UInt64(entries[vector * 4 + 1]) << 32, entries[vector * 4 + 2])
    }
}
