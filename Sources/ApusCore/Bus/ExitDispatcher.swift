/// What to do when the guest touches a port or MMIO address no device claims.
public enum UnmappedAccessPolicy: String, Sendable, CaseIterable, Codable {
    /// Reads return all ones and writes vanish, as on a PC's open bus. Linux probes many absent ports.
    case ignore
    /// End the run with `DispatchError.unmapped`: our own test guests must only touch devices they were given.
    case fail
}

public enum DispatchError: Error, Equatable, Sendable, CustomStringConvertible {
    case unmapped(bus: String, address: UInt64, direction: IODirection, size: Int)
    case badAccessSize(bus: String, address: UInt64, size: Int)

    public var description: String {
        switch self {
        case .unmapped(let bus, let address, let direction, let size):
            let verb = direction == .read ? "read from" : "write to"
            return "guest \(verb) unmapped \(bus) address 0x\(String(address, radix: 16)) (\(size) bytes)"
        case .badAccessSize(let bus, let address, let size):
            return "guest made a \(size)-byte \(bus) access at 0x\(String(address, radix: 16)), which no device supports"
        }
    }
}

/// Routes port I/O and MMIO exits to the device that owns the address: the VMM's dispatcher.
public final class ExitDispatcher: Sendable {
    public let portBus: IOBus
    public let mmioBus: IOBus
    public let unmappedPolicy: UnmappedAccessPolicy

    public init(portBus: IOBus, mmioBus: IOBus, unmappedPolicy: UnmappedAccessPolicy) {
        self.portBus = portBus
        self.mmioBus = mmioBus
        self.unmappedPolicy = unmappedPolicy
    }

    /// Performs every access of a (possibly repeated) port I/O exit.
    public func dispatch(_ exit: PortIOExit) throws {
        guard [1, 2, 4].contains(exit.size), exit.count >= 1, exit.data.count >= exit.size * exit.count else {
            throw DispatchError.badAccessSize(bus: portBus.name, address: UInt64(exit.port), size: exit.size)
        }
        for index in 0..<exit.count {
            try access(portBus, address: UInt64(exit.port), size: exit.size, direction: exit.direction,
                       data: exit.data, at: index * exit.size)
        }
    }

    public func dispatch(_ exit: MMIOExit) throws {
        guard [1, 2, 4, 8].contains(exit.size), exit.data.count >= exit.size else {
            throw DispatchError.badAccessSize(bus: mmioBus.name, address: exit.address.rawValue, size: exit.size)
        }
        try access(mmioBus, address: exit.address.rawValue, size: exit.size, direction: exit.direction,
                   data: exit.data, at: 0)
    }

    private func access(_ bus: IOBus, address: UInt64, size: Int, direction: IODirection,
                        data: UnsafeMutableRawBufferPointer, at byteOffset: Int) throws {
        guard let (slot, offset) = bus.resolve(address) else {
            if unmappedPolicy == .fail {
                throw DispatchError.unmapped(bus: bus.name, address: address, direction: direction, size: size)
            }
            if direction == .read { Self.store(UInt64.max, size: size, into: data, at: byteOffset) }
            return
        }
        switch direction {
        case .read:
            let value = slot.withDevice { $0.read(offset: offset, size: size) }
            Self.store(value, size: size, into: data, at: byteOffset)
        case .write:
            let value = Self.load(size: size, from: data, at: byteOffset)
            slot.withDevice { $0.write(offset: offset, size: size, value: value) }
        }
    }

    @inline(__always)
    static func store(_ value: UInt64, size: Int, into data: UnsafeMutableRawBufferPointer, at offset: Int) {
        for i in 0..<size { data[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    @inline(__always)
    static func load(size: Int, from data: UnsafeMutableRawBufferPointer, at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<size { value |= UInt64(data[offset + i]) << (8 * UInt64(i)) }
        return value
    }
}
