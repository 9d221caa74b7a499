public import ApusCore
import Synchronization

/// The ACPI fixed-hardware power-management registers the FADT points at (ACPI 6.x, 4.8): the PM1a event block
/// (status and enable), the PM1a control block (SCI_EN, SLP_TYP/SLP_EN), the PM timer at 3.579545 MHz, and the
/// FADT's reset register. Mapped as one 16-port block:
///
///     +0  PM1a_STS (16 bits, write 1 to clear)   +2  PM1a_EN (16 bits)
///     +4  PM1a_CNT (16 bits)                     +8  PM_TMR (32 bits, read-only)
///     +12 reset register (8 bits; `resetValue` resets the machine)
///
/// Sleeping in S5 powers the machine off; the other sleep types are not offered in the DSDT and do nothing. The SCI
/// is a level: asserted while an enabled status bit is set. The PM timer's overflow status is computed when read,
/// so without a read no timer SCI is raised (no OS enables it: Linux reads the timer as a clocksource only).
public final class ACPIPowerManagement: StatefulDevice, @unchecked Sendable {
    // @unchecked: `live` is a Mutex; the rest is immutable.
    public struct State: Codable, Sendable, Equatable {
        public var status: UInt16 = 0
        public var enable: UInt16 = 0
        public var control: UInt16 = ACPIPowerManagement.sciEnable
        /// The PM timer's value when saved: a restore continues from it.
        public var timerAtSave: UInt32 = 0
        public init() {}
    }

    public static let timerFrequency: UInt64 = 3_579_545
    public static let blockSize: UInt16 = 16
    public static let eventBlockOffset: UInt16 = 0
    public static let controlBlockOffset: UInt16 = 4
    public static let timerOffset: UInt16 = 8
    public static let resetRegisterOffset: UInt16 = 12
    /// What the guest writes to the reset register (the FADT's RESET_VALUE).
    public static let resetValue: UInt8 = 0x06
    /// The sleep type `\_S5` names in the DSDT.
    public static let softOffSleepType: UInt16 = 5

    static let sciEnable: UInt16 = 1 << 0
    static let sleepEnable: UInt16 = 1 << 13
    static let timerStatus: UInt16 = 1 << 0
    /// Status bits that exist here: TMR, BM, GBL, PWRBTN, SLPBTN, RTC, WAK.
    static let statusBits: UInt16 = 0x8731
    /// Enable bits that exist here: TMR, GBL, PWRBTN, SLPBTN, RTC.
    static let enableBits: UInt16 = 0x0721

    private struct Live {
        var status: UInt16 = 0
        var enable: UInt16 = 0
        var control: UInt16 = ACPIPowerManagement.sciEnable
        /// The clock time the timer counted 0 at (it may lie before the clock's epoch: wrapping arithmetic).
        var timerEpoch: UInt64 = 0
        var acknowledgedOverflows: UInt64 = 0
    }

    private let live: Mutex<Live>
    private let clock: any DeviceClock
    private let sci: any InterruptLine
    private let onPowerOff: @Sendable () -> Void
    private let onReset: @Sendable () -> Void

    public init(sci: any InterruptLine, clock: any DeviceClock = MonotonicClock(),
                onPowerOff: @escaping @Sendable () -> Void, onReset: @escaping @Sendable () -> Void) {
        self.sci = sci
        self.clock = clock
        self.onPowerOff = onPowerOff
        self.onReset = onReset
        live = Mutex(Live(timerEpoch: clock.nanoseconds()))
    }

    /// Timer ticks since the epoch (64 bits; the register shows the low 32).
    private static func ticks(_ live: Live, now: UInt64) -> UInt64 {
        let elapsed = now &- live.timerEpoch
        let product = elapsed.multipliedFullWidth(by: timerFrequency)
        return (1_000_000_000 as UInt64).dividingFullWidth((product.high, product.low)).quotient
    }

    private static func refreshTimerStatus(_ live: inout Live, now: UInt64) {
        let overflows = ticks(live, now: now) >> 31
        if overflows != live.acknowledgedOverflows { live.status |= timerStatus }
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let now = clock.nanoseconds()
        let (value, level) = live.withLock { live -> (UInt64, Bool) in
            Self.refreshTimerStatus(&live, now: now)
            // The block as little-endian bytes, so any access width sees the bytes it covers.
            var bytes = [UInt8](repeating: 0, count: Int(Self.blockSize))
            func put(_ at: Int, _ value: UInt64, _ count: Int) {
                for index in 0..<count { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
            }
            put(0, UInt64(live.status), 2)
            put(2, UInt64(live.enable), 2)
            put(4, UInt64(live.control & ~Self.sleepEnable), 2)
            put(8, Self.ticks(live, now: now) & 0xFFFF_FFFF, 4)
            let start = Int(offset), end = min(Int(offset) + size, bytes.count)
            let value = start < end ? (start..<end).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1 - start)) } : 0
            return (value, live.status & live.enable & Self.enableBits != 0)
        }
        sci.setLevel(level)
        return value
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let now = clock.nanoseconds()
        var powerOff = false, reset = false
        let level = live.withLock { live -> Bool in
            // Registers are written whole; a write starting inside one is split into the bytes it covers.
            for index in 0..<min(size, 8) {
                let at = Int(offset) + index
                let byte = UInt16(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))))
                switch at {
                case 0, 1:
                    Self.refreshTimerStatus(&live, now: now)
                    let cleared = (byte << (8 * UInt16(at))) & Self.statusBits
                    if cleared & Self.timerStatus != 0 { live.acknowledgedOverflows = Self.ticks(live, now: now) >> 31 }
                    live.status &= ~cleared
                case 2, 3:
                    let shift = 8 * UInt16(at - 2)
                    live.enable = (live.enable & ~(0xFF << shift)) | ((byte << shift) & Self.enableBits)
                case 4, 5:
                    let shift = 8 * UInt16(at - 4)
                    live.control = (live.control & ~(0xFF << shift)) | (byte << shift)
                    live.control |= Self.sciEnable   // no SMI command port: always in ACPI mode
                    if at == 5, live.control & Self.sleepEnable != 0 {
                        live.control &= ~Self.sleepEnable
                        if (live.control >> 10) & 7 == Self.softOffSleepType { powerOff = true }
                    }
                case 12:
                    if UInt8(byte) == Self.resetValue { reset = true }
                default:
                    break   // the timer is read-only; the gaps are reserved
                }
            }
            return live.status & live.enable & Self.enableBits != 0
        }
        sci.setLevel(level)
        if powerOff { onPowerOff() }
        if reset { onReset() }
    }

    public func saveState() -> State {
        let now = clock.nanoseconds()
        return live.withLock { live in
            Self.refreshTimerStatus(&live, now: now)
            let ticks = Self.ticks(live, now: now)
            var state = State()
            state.status = live.status
            state.enable = live.enable
            state.control = live.control
            state.timerAtSave = UInt32(truncatingIfNeeded: ticks)
            return state
        }
    }

    public func restoreState(_ state: State) throws {
        guard state.status & ~Self.statusBits == 0, state.enable & ~Self.enableBits == 0 else {
            throw DeviceStateError.invalid(device: "ACPI PM block", reason: "status 0x\(String(state.status, radix: 16)), enable 0x\(String(state.enable, radix: 16))")
        }
        let now = clock.nanoseconds()
        live.withLock { live in
            live.status = state.status
            live.enable = state.enable
            live.control = state.control | Self.sciEnable
            // Start the count so it reads `timerAtSave` now.
            let nanoseconds = UInt64(state.timerAtSave) * 1_000_000_000 / Self.timerFrequency
            live.timerEpoch = now &- nanoseconds
            live.acknowledgedOverflows = UInt64(state.timerAtSave) >> 31   // a pending overflow is in `status`
        }
    }
}
