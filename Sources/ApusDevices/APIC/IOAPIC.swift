public import ApusCore
import Synchronization

/// The machine's I/O APIC at 0xFEC00000: devices drive its pins through `line(_:)`, its messages go through the MSI
/// seam to the local APICs, and it hears their EOIs. Its state sits behind its own lock (vCPU threads program it,
/// device threads raise its pins); messages are sent after the lock is released. A backend whose LAPICs live
/// elsewhere (KVM's kernel) hears through `onRoutesChanged` what each pin sends whenever the guest reprograms one.
public final class IOAPIC: StatefulDevice, EndOfInterruptListener, @unchecked Sendable {
    // @unchecked: `state` is a Mutex; `sink` and `onRoutesChanged` are immutable.
    private let state = Mutex(IOAPICState())
    private let sink: any MSISink
    private let onRoutesChanged: (@Sendable ([MSIMessage]) -> Void)?

    public static let defaultAddress: UInt64 = 0xFEC0_0000
    public static let registerWindowSize: UInt64 = 0x1000

    public init(sink: any MSISink, onRoutesChanged: (@Sendable ([MSIMessage]) -> Void)? = nil) {
        self.sink = sink
        self.onRoutesChanged = onRoutesChanged
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
        let watched = onRoutesChanged != nil
        let (messages, routes) = state.withLock { state -> ([MSIMessage], [MSIMessage]?) in
            let before = watched && offset == 0x10 ? state.routes : nil
            let messages = state.write(offset: offset, value: UInt32(truncatingIfNeeded: value))
            guard let before else { return (messages, nil) }
            let after = state.routes
            return (messages, after != before ? after : nil)
        }
        // The routes first: the backend must know a level vector before the guest can EOI it.
        if let routes { onRoutesChanged?(routes) }
        send(messages)
    }

    public func saveState() -> IOAPICState { state.withLock { $0 } }

    public func restoreState(_ newState: IOAPICState) throws {
        guard newState.redirection.count == IOAPICState.pinCount, newState.id < 16 else {
            throw DeviceStateError.invalid(device: "IOAPIC", reason: "\(newState.redirection.count) redirection entries, ID \(newState.id)")
        }
        state.withLock { $0 = newState }
        onRoutesChanged?(newState.routes)
    }
}

struct IOAPICPinLine: InterruptLine {
    let ioapic: IOAPIC
    let pin: Int
    func setLevel(_ asserted: Bool) { ioapic.setLevel(pin: pin, asserted) }
}
