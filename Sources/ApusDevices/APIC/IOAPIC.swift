public import ApusCore
import Synchronization

/// The machine's I/O APIC at 0xFEC00000: devices drive its pins through `line(_:)`, its messages go through the MSI
/// seam to the local APICs, and it hears their EOIs. Its state sits behind its own lock (vCPU threads program it,
/// device threads raise its pins); messages are sent after the lock is released.
public final class IOAPIC: StatefulDevice, EndOfInterruptListener, @unchecked Sendable {
    // @unchecked: `state` is a Mutex; `sink` is immutable.
    private let state = Mutex(IOAPICState())
    private let sink: any MSISink

    public static let defaultAddress: UInt64 = 0xFEC0_0000
    public static let registerWindowSize: UInt64 = 0x1000

    public init(sink: any MSISink) {
        self.sink = sink
    }

    private func send(_ messages: [MSIMessage]) {
        for message in messages { sink.deliver(message) }
    }

    /// Pin `pin` (0-23) as a line for a device.
    public func line(_ pin: Int) throws -> any InterruptLine {
        guard pin >= 0, pin < IOAPICState.pinCount else { throw InterruptRoutingError.unroutable(gsi: UInt32(max(pin, 0))) }
        return IOAPICPinLine(ioapic: self, pin: pin)
    }

    func setLevel(pin: Int, _ high: Bool) {
        send(state.withLock { $0.setLevel(pin: pin, high) })
    }

    public func endOfInterrupt(vector: UInt8) {
        send(state.withLock { $0.endOfInterrupt(vector: vector) })
    }

    /// IOREGSEL and IOWIN are 32-bit registers; narrower or misaligned accesses see the bytes of the register they
    /// fall in (a write of fewer than 4 bytes at offset 0 still selects a register; elsewhere it is ignored).
    public func read(offset: UInt64, size: Int) -> UInt64 {
        let register = offset & ~3
        let value = UInt64(state.withLock { $0.read(offset: register) }) >> (8 * (offset & 3))
        return size >= 4 ? value & 0xFFFF_FFFF : value & ((1 << UInt64(8 * size)) - 1)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard offset & 3 == 0, size >= 4 || offset == 0 else { return }
        send(state.withLock { $0.write(offset: offset, value: UInt32(truncatingIfNeeded: value)) })
    }

    public func saveState() -> IOAPICState { state.withLock { $0 } }

    public func restoreState(_ newState: IOAPICState) throws {
        guard newState.redirection.count == IOAPICState.pinCount, newState.id < 16 else {
            throw DeviceStateError.invalid(device: "IOAPIC", reason: "\(newState.redirection.count) redirection entries, ID \(newState.id)")
        }
        state.withLock { $0 = newState }
    }
}

struct IOAPICPinLine: InterruptLine {
    let ioapic: IOAPIC
    let pin: Int
    func setLevel(_ asserted: Bool) { ioapic.setLevel(pin: pin, asserted) }
}
