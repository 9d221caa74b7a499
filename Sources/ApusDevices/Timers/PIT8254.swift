public import ApusCore
import Synchronization

/// The PC's 8254 interval timer (ports 0x40-0x43) and the timer bits of port 0x61 (channel 2's gate, the speaker
/// enable, OUT2): channel 0 drives IRQ 0, channel 2 is what Linux calibrates the TSC against.
///
/// The device never runs by itself: whoever owns the machine's timers asks `nextInterrupt()` when channel 0 will next
/// raise IRQ 0 and calls `deliverDueInterrupts()` then (ApusVMM's platform timer thread does).
public final class PIT8254: StatefulDevice, @unchecked Sendable {
    // @unchecked: all mutable state is in the Mutex; `clock` and `irq0` are immutable.
    public static let frequency: UInt64 = 1_193_182

    public struct State: Codable, Sendable, Equatable {
        public var channels = [PITChannel(), PITChannel(), PITChannel()]
        /// For each channel, ticks counted before the state was saved (nil: not counting), so a restore on another
        /// host or boot continues from the same point of the count.
        public var elapsedAtSave: [UInt64?] = [nil, nil, nil]
        /// Port 0x61 bit 1.
        public var speakerEnabled = false
        public init() {}
    }

    private struct Live {
        var channels = [PITChannel(), PITChannel(), PITChannel()]
        var speakerEnabled = false
        /// The tick up to which IRQ 0 edges have been delivered.
        var deliveredUpTo: UInt64 = 0
    }

    private let live = Mutex(Live())
    private let clock: any DeviceClock
    private let irq0: any InterruptLine
    private let onReprogram: @Sendable () -> Void

    /// `onReprogram` runs (outside the lock) whenever channel 0 gets a new count, so a timer thread sleeping until the
    /// old deadline can recompute it.
    public init(irq0: any InterruptLine, clock: any DeviceClock = MonotonicClock(),
                onReprogram: @escaping @Sendable () -> Void = {}) {
        self.irq0 = irq0
        self.clock = clock
        self.onReprogram = onReprogram
        // Channel 2's gate starts low (port 0x61 bit 0 clear), as on a PC after reset.
        live.withLock { $0.channels[2].gate = false }
    }

    func ticks(_ nanoseconds: UInt64) -> UInt64 {
        let product = nanoseconds.multipliedFullWidth(by: Self.frequency)
        return UInt64(1_000_000_000).dividingFullWidth((product.high, product.low)).quotient
    }

    func nanoseconds(_ ticks: UInt64) -> UInt64 {
        let product = ticks.multipliedFullWidth(by: 1_000_000_000)
        return Self.frequency.dividingFullWidth((product.high, product.low)).quotient + 1
    }

    private var now: UInt64 { ticks(clock.nanoseconds()) }

    // MARK: Ports 0x40-0x43

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let now = self.now
        return live.withLock { live in
            guard offset < 3 else { return 0xFF }  // the control word register is write-only
            return UInt64(live.channels[Int(offset)].read(at: now))
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let now = self.now
        let byte = UInt8(truncatingIfNeeded: value)
        live.withLock { live in
            if offset < 3 {
                live.channels[Int(offset)].writeCount(byte, at: now)
                if offset == 0 { live.deliveredUpTo = now }
                return
            }
            let select = Int(byte >> 6)
            if select == 3 {
                // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 1-3 pick channels.
                for channel in 0..<3 where byte & (2 << UInt8(channel)) != 0 {
                    if byte & 0x20 == 0 { live.channels[channel].control(0, at: now) }
                    if byte & 0x10 == 0 { live.channels[channel].latchStatus(at: now) }
                }
            } else {
                live.channels[select].control(byte, at: now)
            }
        }
        if offset == 0 { onReprogram() }
    }

    // MARK: Port 0x61

    /// Port 0x61 as a bus device: bit 0 gates channel 2, bit 1 enables the speaker, bit 5 reads OUT2, bit 4
    /// toggles like the DRAM refresh signal (old delay loops poll it).
    public var systemControlPort: any BusDevice { SystemControlPortB(pit: self) }

    func readPortB() -> UInt8 {
        let now = self.now
        return live.withLock { live in
            let gate: UInt8 = live.channels[2].gate ? 0x01 : 0
            let speaker: UInt8 = live.speakerEnabled ? 0x02 : 0
            let refresh: UInt8 = (now / 18) & 1 == 0 ? 0 : 0x10
            let out2: UInt8 = live.channels[2].output(at: now) ? 0x20 : 0
            return gate | speaker | refresh | out2
        }
    }

    func writePortB(_ value: UInt8) {
        let now = self.now
        live.withLock { live in
            live.channels[2].setGate(value & 0x01 != 0, at: now)
            live.speakerEnabled = value & 0x02 != 0
        }
    }

    // MARK: IRQ 0

    /// When (in the clock's nanoseconds) channel 0 next raises IRQ 0, or nil while it is not counting.
    public func nextInterrupt() -> UInt64? {
        live.withLock { live in
            live.channels[0].nextRisingEdge(after: live.deliveredUpTo).map { nanoseconds($0) }
        }
    }

    /// Pulses IRQ 0 once if channel 0's output rose since the last delivery (several missed periods count as one,
    /// as lost ticks do on hardware); returns whether it did.
    @discardableResult
    public func deliverDueInterrupts() -> Bool {
        let now = self.now
        let due = live.withLock { live -> Bool in
            guard let edge = live.channels[0].nextRisingEdge(after: live.deliveredUpTo), edge <= now else { return false }
            live.deliveredUpTo = now
            return true
        }
        if due { irq0.pulse() }
        return due
    }

    // MARK: State

    public func saveState() -> State {
        let now = self.now
        return live.withLock { live in
            var state = State()
            state.channels = live.channels
            state.speakerEnabled = live.speakerEnabled
            for index in 0..<3 {
                state.elapsedAtSave[index] = live.channels[index].start.map { now >= $0 ? now - $0 : 0 }
                state.channels[index].start = nil
            }
            return state
        }
    }

    public func restoreState(_ state: State) throws {
        guard state.channels.count == 3, state.elapsedAtSave.count == 3,
              state.channels.allSatisfy({ $0.mode <= 5 }) else {
            throw DeviceStateError.invalid(device: "8254 PIT", reason: "it needs three channels in modes 0-5")
        }
        let now = self.now
        live.withLock { live in
            live.channels = state.channels
            live.speakerEnabled = state.speakerEnabled
            for index in 0..<3 {
                live.channels[index].start = state.elapsedAtSave[index].map { now >= $0 ? now - $0 : 0 }
            }
            live.deliveredUpTo = now
        }
    }
}

/// Port 0x61's timer bits, kept in the `PIT8254`.
final class SystemControlPortB: BusDevice {
    let pit: PIT8254
    init(pit: PIT8254) { self.pit = pit }
    func read(offset: UInt64, size: Int) -> UInt64 { UInt64(pit.readPortB()) }
    func write(offset: UInt64, size: Int, value: UInt64) { pit.writePortB(UInt8(truncatingIfNeeded: value)) }
}
