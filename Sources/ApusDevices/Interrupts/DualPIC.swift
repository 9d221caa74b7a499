public import ApusCore
import Synchronization

/// The PC's two cascaded 8259As (master at ports 0x20-0x21, slave at 0xA0-0xA1 on the master's IRQ 2) and their
/// edge/level control (ELCR), on both backends (KVM takes its vector by KVM_INTERRUPT). The machine maps this
/// object at 0x20 and `slavePorts` at 0xA0. Devices drive `line(_:)`; the CPU asks `pendingInterrupt` and takes a vector with `acknowledge()`.
///
/// It is reached from the vCPU thread (port I/O, acknowledge) and from device threads (interrupt lines), so its state
/// sits behind its own lock; `onRequest` runs outside that lock whenever the INT output rises, to wake a
/// halted or running vCPU.
public final class DualPIC: StatefulDevice, ExternalInterruptController, @unchecked Sendable {
    // @unchecked: `state` is a Mutex and `onRequest` is set once before the machine runs.
    public struct State: Codable, Sendable, Equatable {
        public var master = PIC8259()
        public var slave = PIC8259()
        public init() {}
    }

    private let state = Mutex(State())
    private let onRequest: @Sendable () -> Void

    public init(onRequest: @escaping @Sendable () -> Void = {}) {
        self.onRequest = onRequest
    }

    /// Whether the CPU's INTR input is high.
    public var pendingInterrupt: Bool { state.withLock { $0.master.interruptRequested } }

    /// The CPU's interrupt acknowledge cycle: the vector to deliver (a spurious IRQ 7 or 15 vector if the request
    /// went away), or nil when INTR is low.
    public func acknowledge() -> UInt8? {
        state.withLock { state in
            guard state.master.interruptRequested else { return nil }
            guard let irq = state.master.acknowledge() else { return state.master.vector(for: 7) }
            guard irq == 2 && !state.master.single else { return state.master.vector(for: irq) }
            let vector = state.slave.acknowledge().map { state.slave.vector(for: $0) } ?? state.slave.vector(for: 7)
            Self.cascade(&state)
            return vector
        }
    }

    /// ISA IRQ `irq` (0-15) as a line for a device. Other numbers have no pin here: an error, never a wrap-around.
    public func line(_ irq: Int) throws -> any InterruptLine {
        guard irq >= 0, irq < 16 else { throw InterruptRoutingError.unroutable(gsi: UInt32(truncatingIfNeeded: irq)) }
        return PICInputLine(pic: self, irq: irq)
    }

    func setLevel(_ irq: Int, _ high: Bool) {
        let raised = state.withLock { state -> Bool in
            let before = state.master.interruptRequested
            if irq >= 8 {
                state.slave.setLevel(irq - 8, high)
                Self.cascade(&state)
            } else {
                state.master.setLevel(irq, high)
            }
            return !before && state.master.interruptRequested
        }
        if raised { onRequest() }
    }

    /// The slave's INT output is the master's input 2.
    private static func cascade(_ state: inout State) {
        state.master.setLevel(2, state.slave.interruptRequested)
    }

    // MARK: Bus access (offsets 0-1: the master; 0x80-0x81: the slave, which `slavePorts` forwards)

    /// The slave's two ports, for the bus at 0xA0.
    public var slavePorts: any BusDevice { SlavePICPorts(pic: self) }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        state.withLock { state in
            if offset >= 0x80 { return UInt64(state.slave.read(offset: offset - 0x80)) }
            return UInt64(state.master.read(offset: offset))
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let raised = state.withLock { state -> Bool in
            let before = state.master.interruptRequested
            let byte = UInt8(truncatingIfNeeded: value)
            if offset >= 0x80 {
                state.slave.write(offset: offset - 0x80, value: byte)
                Self.cascade(&state)
            } else {
                state.master.write(offset: offset, value: byte)
            }
            return !before && state.master.interruptRequested
        }
        if raised { onRequest() }
    }

    /// The edge/level control registers: one bit per input, 1 = level-triggered (PCI interrupts).
    public var elcr: (master: UInt8, slave: UInt8) {
        get { state.withLock { ($0.master.levelTriggered, $0.slave.levelTriggered) } }
        set {
            state.withLock { state in
                // IRQ 0, 1, 2, 8 and 13 are always edge-triggered on a PC.
                state.master.levelTriggered = newValue.master & 0xF8
                state.slave.levelTriggered = newValue.slave & 0xDE
            }
        }
    }

    public func saveState() -> State { state.withLock { $0 } }

    public func restoreState(_ newState: State) throws {
        for chip in [newState.master, newState.slave] where chip.initStep > 4 || chip.lowestPriority > 7 {
            throw DeviceStateError.invalid(
                device: "8259A PIC", reason: "initialization step \(chip.initStep), lowest priority \(chip.lowestPriority)")
        }
        state.withLock { $0 = newState }
    }
}

/// One PIC input as a device sees it.
struct PICInputLine: InterruptLine {
    let pic: DualPIC
    let irq: Int
    func setLevel(_ asserted: Bool) { pic.setLevel(irq, asserted) }
}

/// Ports 0xA0-0xA1: the slave's registers, kept (and saved) in the `DualPIC`.
final class SlavePICPorts: BusDevice {
    let pic: DualPIC
    init(pic: DualPIC) { self.pic = pic }
    func read(offset: UInt64, size: Int) -> UInt64 { pic.read(offset: 0x80 + (offset & 1), size: size) }
    func write(offset: UInt64, size: Int, value: UInt64) { pic.write(offset: 0x80 + (offset & 1), size: size, value: value) }
}
