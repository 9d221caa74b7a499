/// A function's 256-byte configuration space (header type 0) with per-byte write masks, BARs that size themselves
/// the standard way (writing all ones reads back the size mask), and a capability list.
public struct PCIConfigSpace: Codable, Equatable, Sendable {
    public static let size = 256

    public enum Register {
        public static let vendorID = 0x00
        public static let command = 0x04
        public static let status = 0x06
        public static let revision = 0x08
        public static let headerType = 0x0E
        public static let bar0 = 0x10
        public static let subsystemVendorID = 0x2C
        public static let capabilitiesPointer = 0x34
        public static let interruptLine = 0x3C
        public static let interruptPin = 0x3D
    }

    public enum Command {
        public static let ioSpace: UInt16 = 1 << 0
        public static let memorySpace: UInt16 = 1 << 1
        public static let busMaster: UInt16 = 1 << 2
        public static let interruptDisable: UInt16 = 1 << 10
    }

    public private(set) var bytes: [UInt8]
    private var writable: [UInt8]
    public private(set) var bars: [PCIBarDefinition?]
    /// Where the next capability goes.
    private var nextCapability = 0x40

    public init(vendorID: UInt16, deviceID: UInt16, classCode: UInt32, revision: UInt8 = 0,
                subsystemVendorID: UInt16 = 0, subsystemID: UInt16 = 0, interruptPin: UInt8 = 1) {
        bytes = [UInt8](repeating: 0, count: Self.size)
        writable = [UInt8](repeating: 0, count: Self.size)
        bars = [PCIBarDefinition?](repeating: nil, count: 6)
        set16(Register.vendorID, vendorID)
        set16(Register.vendorID + 2, deviceID)
        bytes[Register.revision] = revision
        bytes[0x09] = UInt8(truncatingIfNeeded: classCode)
        bytes[0x0A] = UInt8(truncatingIfNeeded: classCode >> 8)
        bytes[0x0B] = UInt8(truncatingIfNeeded: classCode >> 16)
        set16(Register.subsystemVendorID, subsystemVendorID)
        set16(Register.subsystemVendorID + 2, subsystemID)
        bytes[Register.interruptPin] = interruptPin
        let command = Command.ioSpace | Command.memorySpace | Command.busMaster | Command.interruptDisable
        writable[Register.command] = UInt8(truncatingIfNeeded: command)
        writable[Register.command + 1] = UInt8(command >> 8)
        writable[Register.interruptLine] = 0xFF
        writable[0x0C] = 0xFF  // cache line size
        writable[0x0D] = 0xFF  // latency timer
    }

    // MARK: - Building

    /// Declares BAR `index` (a 64-bit BAR also takes `index + 1`).
    public mutating func defineBar(_ index: Int, _ definition: PCIBarDefinition) {
        precondition(index < 6 && (definition.kind != .memory64 || index < 5))
        bars[index] = definition
        set32(Register.bar0 + 4 * index, definition.typeBits)
    }

    /// Appends a capability with `body` (the bytes after ID and next pointer); `writableBody` masks which body bytes
    /// the guest may change. Returns the capability's offset.
    @discardableResult
    public mutating func addCapability(id: UInt8, body: [UInt8], writableBody: [UInt8]? = nil) -> Int {
        let offset = nextCapability
        let length = (2 + body.count + 3) / 4 * 4
        precondition(offset + length <= Self.size, "capabilities overflow configuration space")
        bytes[offset] = id
        bytes[offset + 1] = 0
        for (i, byte) in body.enumerated() { bytes[offset + 2 + i] = byte }
        for (i, mask) in (writableBody ?? []).enumerated() { writable[offset + 2 + i] = mask }
        // Link it at the end of the list.
        if bytes[Register.capabilitiesPointer] == 0 {
            bytes[Register.capabilitiesPointer] = UInt8(offset)
        } else {
            var last = Int(bytes[Register.capabilitiesPointer])
            while bytes[last + 1] != 0 { last = Int(bytes[last + 1]) }
            bytes[last + 1] = UInt8(offset)
        }
        bytes[Register.status] |= 0x10
        nextCapability = offset + length
        return offset
    }

    // MARK: - Guest access

    public func read(offset: Int, size: Int) -> UInt32 {
        guard offset >= 0, offset + size <= Self.size else { return 0xFFFF_FFFF }
        var value: UInt32 = 0
        for i in 0..<size { value |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        return value
    }

    /// A guest write: only writable bits change; BAR registers keep their type bits and size alignment.
    public mutating func write(offset: Int, size: Int, value: UInt32) {
        guard offset >= 0, offset + size <= Self.size, [1, 2, 4].contains(size) else { return }
        for i in 0..<size {
            let at = offset + i
            let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))
            if (Register.bar0..<Register.bar0 + 24).contains(at) { continue }
            bytes[at] = bytes[at] & ~writable[at] | byte & writable[at]
        }
        // BARs: merge the written bytes into the dword, then mask to the BAR's alignment.
        var dword = offset & ~3
        while dword < offset + size {
            defer { dword += 4 }
            guard (Register.bar0..<Register.bar0 + 24).contains(dword) else { continue }
            var merged = read(offset: dword, size: 4)
            for i in 0..<4 where (offset..<offset + size).contains(dword + i) {
                let byte = (value >> (8 * UInt32(dword + i - offset))) & 0xFF
                merged = merged & ~(0xFF << (8 * UInt32(i))) | byte << (8 * UInt32(i))
            }
            set32(dword, barRegisterValue(index: (dword - Register.bar0) / 4, written: merged))
        }
    }

    private func barRegisterValue(index: Int, written: UInt32) -> UInt32 {
        if let bar = bars[index] {
            let mask = UInt32(truncatingIfNeeded: ~(bar.size - 1)) & (bar.kind == .io ? ~0x3 : ~0xF)
            return written & mask | bar.typeBits
        }
        if index > 0, let low = bars[index - 1], low.kind == .memory64 {
            return written & UInt32(truncatingIfNeeded: ~(low.size - 1) >> 32)
        }
        return 0
    }

    // MARK: - Decoding

    public var command: UInt16 { UInt16(read(offset: Register.command, size: 2)) }

    /// Where BAR `index` currently decodes, or nil when it is undefined, unplaced or its space is disabled.
    public func barAddress(_ index: Int) -> UInt64? {
        guard let bar = bars[index] else { return nil }
        let low = UInt64(read(offset: Register.bar0 + 4 * index, size: 4))
        var address: UInt64
        switch bar.kind {
        case .io:
            guard command & Command.ioSpace != 0 else { return nil }
            address = low & ~0x3
        case .memory32:
            guard command & Command.memorySpace != 0 else { return nil }
            address = low & ~0xF
        case .memory64:
            guard command & Command.memorySpace != 0 else { return nil }
            address = low & ~0xF | UInt64(read(offset: Register.bar0 + 4 * index + 4, size: 4)) << 32
        }
        // Zero is "not placed"; an address whose end wraps is the sizing pattern, not a placement.
        guard address != 0, address.addingReportingOverflow(bar.size).overflow == false else { return nil }
        if bar.kind == .io, address + bar.size > 0x1_0000 { return nil }
        return address
    }

    // MARK: - Device-side access

    public mutating func set16(_ offset: Int, _ value: UInt16) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(value >> 8)
    }

    public mutating func set32(_ offset: Int, _ value: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    /// Status bit 3: the function's INTx is asserted (whether or not INTx is disabled).
    public mutating func setInterruptStatus(_ asserted: Bool) {
        if asserted { bytes[Register.status] |= 0x08 } else { bytes[Register.status] &= ~0x08 }
    }
}
