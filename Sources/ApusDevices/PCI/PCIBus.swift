public import ApusCore
import Synchronization

/// PCI bus 0: up to 32 single-function devices, configuration mechanism 1 and ECAM, and the address windows through
/// which BARs are reached.
///
/// The machine's port and MMIO buses are fixed once it runs, so the bus owns two windows (`ioWindow`, `memoryWindow`)
/// that the VMM inserts once; inside them, an access goes to whichever BAR the guest has placed there and enabled.
/// Moving a BAR is a config write, and the next access already decodes at the new address.
public final class PCIBus: @unchecked Sendable {
    // @unchecked: all mutable state is behind `lock`.
    public static let configAddressPort: UInt16 = 0xCF8
    public static let configPortCount: UInt64 = 8

    public let ioWindow: GuestRange
    public let memoryWindow: GuestRange
    private let lock = Mutex<Void>(())
    nonisolated(unsafe) private var slots = [(any PCIFunction)?](repeating: nil, count: 32)
    nonisolated(unsafe) private var configAddress: UInt32 = 0

    public init(ioWindow: GuestRange = GuestRange(start: GuestAddress(0xC000), size: 0x4000),
                memoryWindow: GuestRange = GuestRange(start: GuestAddress(0xC000_0000), size: 0x3EC0_0000)) {
        self.ioWindow = ioWindow
        self.memoryWindow = memoryWindow
        slots[0] = PCIHostBridgeFunction()
    }

    /// Plugs `function` in at `device` (1...31), or the first free slot; returns the device number.
    @discardableResult
    public func plug(_ function: any PCIFunction, device: Int? = nil) throws -> Int {
        try lock.withLock { _ in
            let number = device ?? (1..<32).first { slots[$0] == nil } ?? 32
            guard (1..<32).contains(number), slots[number] == nil else { throw PCIError.slotTaken(number) }
            slots[number] = function
            return number
        }
    }

    /// Runs `body` while no guest access is in progress (saving state, flushing disks behind the functions).
    public func exclusively<R>(_ body: () throws -> R) rethrows -> R {
        try lock.withLock { _ in try body() }
    }

    // MARK: - Configuration mechanism 1

    /// Port access at `offset` from 0xCF8: the address register is 0xCF8 (dword only), data is 0xCFC-0xCFF.
    public func configPortRead(offset: UInt64, size: Int) -> UInt64 {
        lock.withLock { _ in
            if offset == 0 && size == 4 { return UInt64(configAddress) }
            guard offset >= 4, let (function, register) = selected(dataOffset: Int(offset - 4), size: size) else {
                return UInt64.max >> (64 - 8 * UInt64(size))
            }
            return UInt64(function.readConfig(offset: register, size: size))
        }
    }

    public func configPortWrite(offset: UInt64, size: Int, value: UInt64) {
        lock.withLock { _ in
            if offset == 0 && size == 4 {
                configAddress = UInt32(truncatingIfNeeded: value) & 0x80FF_FFFC
                return
            }
            guard offset >= 4, let (function, register) = selected(dataOffset: Int(offset - 4), size: size) else { return }
            function.writeConfig(offset: register, size: size, value: UInt32(truncatingIfNeeded: value))
        }
    }

    /// The function and register CONFIG_ADDRESS selects, or nil (disabled, another bus, function > 0, empty slot).
    private func selected(dataOffset: Int, size: Int) -> (any PCIFunction, Int)? {
        guard configAddress & 0x8000_0000 != 0, dataOffset + size <= 4 else { return nil }
        let bus = (configAddress >> 16) & 0xFF
        let device = Int((configAddress >> 11) & 0x1F)
        let function = (configAddress >> 8) & 0x7
        guard bus == 0, function == 0, let found = slots[device] else { return nil }
        return (found, Int(configAddress & 0xFC) + dataOffset)
    }

    // MARK: - ECAM (PCI Express enhanced configuration access)

    /// Bytes of ECAM space bus 0 takes: 32 devices x 8 functions x 4 KiB. The VMM places it where the ACPI MCFG
    /// table says (start bus 0, end bus 0).
    public static let ecamSize: UInt64 = 1 << 20

    /// An ECAM read at `offset` (device << 15 | function << 12 | register). Functions have conventional 256-byte
    /// configuration space: the extended registers read as zero, so the extended capability list is empty.
    public func ecamRead(offset: UInt64, size: Int) -> UInt64 {
        lock.withLock { _ in
            let allOnes = UInt64.max >> (64 - 8 * UInt64(size))
            guard let (function, register) = ecamTarget(offset: offset, size: size) else { return allOnes }
            guard register < PCIConfigSpace.size else { return 0 }
            return UInt64(function.readConfig(offset: register, size: size))
        }
    }

    public func ecamWrite(offset: UInt64, size: Int, value: UInt64) {
        lock.withLock { _ in
            guard let (function, register) = ecamTarget(offset: offset, size: size),
                  register < PCIConfigSpace.size else { return }
            function.writeConfig(offset: register, size: size, value: UInt32(truncatingIfNeeded: value))
        }
    }

    private func ecamTarget(offset: UInt64, size: Int) -> (any PCIFunction, Int)? {
        // Accesses are naturally aligned and at most a dword; anything else is dropped, as on real root complexes.
        guard offset < Self.ecamSize, [1, 2, 4].contains(size), offset % UInt64(size) == 0 else { return nil }
        let device = Int(offset >> 15)
        let function = (offset >> 12) & 0x7
        guard function == 0, let found = slots[device] else { return nil }
        return (found, Int(offset & 0xFFF))
    }

    // MARK: - BAR windows

    /// An access inside the I/O or memory window: routed to the enabled BAR placed there, else open bus.
    public func windowRead(io: Bool, address: UInt64, size: Int) -> UInt64 {
        lock.withLock { _ in
            guard let (function, bar, offset) = decode(io: io, address: address, size: size) else {
                return UInt64.max >> (64 - 8 * UInt64(size))
            }
            return function.readBar(bar, offset: offset, size: size)
        }
    }

    public func windowWrite(io: Bool, address: UInt64, size: Int, value: UInt64) {
        lock.withLock { _ in
            guard let (function, bar, offset) = decode(io: io, address: address, size: size) else { return }
            function.writeBar(bar, offset: offset, size: size, value: value)
        }
    }

    private func decode(io: Bool, address: UInt64, size: Int) -> (any PCIFunction, Int, UInt64)? {
        for case let function? in slots {
            let config = function.config
            for index in 0..<6 {
                guard let bar = config.bars[index], (bar.kind == .io) == io,
                      let base = config.barAddress(index), address >= base,
                      address - base < bar.size, address - base + UInt64(size) <= bar.size else { continue }
                return (function, index, address - base)
            }
        }
        return nil
    }

    // MARK: - Bus devices for the machine's buses

    /// The device to insert at ports 0xCF8-0xCFF.
    public var configPorts: any BusDevice { ConfigPorts(bus: self) }
    /// The device to insert on the MMIO bus over `ecamSize` bytes at the MCFG base address.
    public var ecamDevice: any BusDevice { ECAM(bus: self) }
    /// The device to insert over `ioWindow` on the port bus.
    public var ioWindowDevice: any BusDevice { Window(bus: self, io: true, base: ioWindow.start.rawValue) }
    /// The device to insert over `memoryWindow` on the MMIO bus.
    public var memoryWindowDevice: any BusDevice { Window(bus: self, io: false, base: memoryWindow.start.rawValue) }

    private final class ConfigPorts: BusDevice {
        let bus: PCIBus
        init(bus: PCIBus) { self.bus = bus }
        func read(offset: UInt64, size: Int) -> UInt64 { bus.configPortRead(offset: offset, size: size) }
        func write(offset: UInt64, size: Int, value: UInt64) { bus.configPortWrite(offset: offset, size: size, value: value) }
    }

    private final class ECAM: BusDevice {
        let bus: PCIBus
        init(bus: PCIBus) { self.bus = bus }
        func read(offset: UInt64, size: Int) -> UInt64 { bus.ecamRead(offset: offset, size: size) }
        func write(offset: UInt64, size: Int, value: UInt64) { bus.ecamWrite(offset: offset, size: size, value: value) }
    }

    private final class Window: BusDevice {
        let bus: PCIBus
        let io: Bool
        let base: UInt64
        init(bus: PCIBus, io: Bool, base: UInt64) {
            self.bus = bus
            self.io = io
            self.base = base
        }
        func read(offset: UInt64, size: Int) -> UInt64 { bus.windowRead(io: io, address: base + offset, size: size) }
        func write(offset: UInt64, size: Int, value: UInt64) {
            bus.windowWrite(io: io, address: base + offset, size: size, value: value)
        }
    }
}

public enum PCIError: Error, Equatable, Sendable, CustomStringConvertible {
    case slotTaken(Int)
    public var description: String {
        switch self {
        case .slotTaken(let device): return "PCI device \(device) is taken or not a valid slot (1...31)"
        }
    }
}
