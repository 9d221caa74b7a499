public import ApusCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The PC's MC146818 real-time clock and CMOS RAM (port 0x70 selects a register, bit 7 masks NMI; port 0x71 reads
/// or writes it). The time is the host's wall clock plus whatever offset the guest set, in BCD or binary and 12- or
/// 24-hour form as register B asks. Periodic, alarm and update-ended interrupts are not generated: no IRQ 8 line is
/// wired (Linux reads the clock at boot and keeps time with its own timers).
public final class CMOSClock: StatefulDevice, @unchecked Sendable {
    // @unchecked: all mutable state is in the Mutex.
    public struct State: Codable, Sendable, Equatable {
        /// The 128 bytes of CMOS: time registers are recomputed on every read; the rest is plain RAM.
        public var ram = [UInt8](repeating: 0, count: 128)
        /// Guest time minus host time, in seconds (the guest set the clock).
        public var offset: Int64 = 0
        public var index: UInt8 = 0
        public var nmiMasked = false
        public init() {
            ram[0x0A] = 0x26          // 32.768 kHz divider, 1024 Hz rate
            ram[0x0B] = 0x02          // 24-hour, BCD
            ram[0x0D] = 0x80          // valid RAM and time (battery good)
        }
    }

    private let state = Mutex(State())
    private let wallClock: @Sendable () -> Int64

    /// `wallClock` returns seconds since the Unix epoch (the host's by default; tests pass a fixed one).
    public init(wallClock: (@Sendable () -> Int64)? = nil) {
        self.wallClock = wallClock ?? { Int64(time(nil)) }
    }

    public var nmiMasked: Bool { state.withLock { $0.nmiMasked } }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        state.withLock { state in
            guard offset & 1 == 1 else { return UInt64(state.index) }
            let register = Int(state.index & 0x7F)
            switch register {
            case 0x00...0x09, 0x32:
                return UInt64(timeRegister(register, state: state))
            case 0x0C:
                // Interrupt flags read as clear (no interrupts are generated) and clear on read.
                state.ram[0x0C] = 0
                return 0
            default:
                return UInt64(state.ram[register])
            }
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        state.withLock { state in
            guard offset & 1 == 1 else {
                state.index = byte & 0x7F
                state.nmiMasked = byte & 0x80 != 0
                return
            }
            let register = Int(state.index)
            switch register {
            case 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32:
                setTimeRegister(register, to: byte, state: &state)
            case 0x0A:
                state.ram[0x0A] = byte & 0x7F            // UIP is read-only
            case 0x0C, 0x0D:
                break                                    // read-only
            default:
                state.ram[register] = byte
            }
        }
    }

    // MARK: Time

    private var binary: (State) -> Bool { { $0.ram[0x0B] & 0x04 != 0 } }

    /// Fields are 0-99 in the registers' own format; anything else (a guest that set an absurd date) is clamped.
    private func encode(_ value: Int, state: State) -> UInt8 {
        let value = max(0, min(value, 99))
        return binary(state) ? UInt8(value) : UInt8((value / 10) << 4 | value % 10)
    }

    private func decode(_ byte: UInt8, state: State) -> Int {
        binary(state) ? Int(byte) : Int(byte >> 4) * 10 + Int(byte & 0x0F)
    }

    private func guestTime(_ state: State) -> tm {
        // Years 0-9999 at most: a guest may set any date, but not overflow the host's arithmetic.
        var seconds = time_t(max(-62_135_596_800, min(wallClock() &+ state.offset, 253_402_300_799)))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return parts
    }

    private func timeRegister(_ register: Int, state: State) -> UInt8 {
        let now = guestTime(state)
        switch register {
        case 0x00: return encode(Int(now.tm_sec), state: state)
        case 0x02: return encode(Int(now.tm_min), state: state)
        case 0x04:
            let hour = Int(now.tm_hour)
            guard state.ram[0x0B] & 0x02 == 0 else { return encode(hour, state: state) }
            let twelve = hour % 12 == 0 ? 12 : hour % 12
            return encode(twelve, state: state) | (hour >= 12 ? 0x80 : 0)
        case 0x06: return encode(Int(now.tm_wday) + 1, state: state)
        case 0x07: return encode(Int(now.tm_mday), state: state)
        case 0x08: return encode(Int(now.tm_mon) + 1, state: state)
        case 0x09: return encode(Int(now.tm_year) % 100, state: state)
        default: return encode((Int(now.tm_year) + 1900) / 100, state: state)
        }
    }

    /// Setting a field moves the guest's clock: the new time minus the host's becomes the offset.
    private func setTimeRegister(_ register: Int, to byte: UInt8, state: inout State) {
        var now = guestTime(state)
        var value = decode(byte & (register == 0x04 ? 0x7F : 0xFF), state: state)
        switch register {
        case 0x00: now.tm_sec = Int32(min(value, 59))
        case 0x02: now.tm_min = Int32(min(value, 59))
        case 0x04:
            if state.ram[0x0B] & 0x02 == 0 {
                value = value % 12 + (byte & 0x80 != 0 ? 12 : 0)
            }
            now.tm_hour = Int32(min(value, 23))
        case 0x06: return                                   // derived from the date
        case 0x07: now.tm_mday = Int32(max(1, min(value, 31)))
        case 0x08: now.tm_mon = Int32(max(0, min(value - 1, 11)))
        case 0x09:
            let century = (Int(now.tm_year) + 1900) / 100
            now.tm_year = Int32(century * 100 + min(value, 99) - 1900)
        default:
            let yearInCentury = (Int(now.tm_year) + 1900) % 100
            now.tm_year = Int32(min(value, 99) * 100 + yearInCentury - 1900)
        }
        state.offset = Int64(timegm(&now)) - wallClock()
    }

    public func saveState() -> State { state.withLock { $0 } }

    public func restoreState(_ newState: State) throws {
        guard newState.ram.count == 128 else {
            throw DeviceStateError.invalid(device: "CMOS clock", reason: "it needs 128 bytes of CMOS, got \(newState.ram.count)")
        }
        state.withLock { $0 = newState }
    }
}
