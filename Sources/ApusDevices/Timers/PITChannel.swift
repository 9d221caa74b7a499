/// One counter of an Intel 8254 programmable interval timer, as a value. Time is passed in as ticks of the PIT's
/// 1.193182 MHz input clock, so the counter's value and output follow from when it was loaded; nothing runs between
/// accesses.
public struct PITChannel: Codable, Sendable, Equatable {
    public enum Access: UInt8, Codable, Sendable { case latch = 0, low = 1, high = 2, lowThenHigh = 3 }

    public var mode: UInt8 = 0
    public var access: Access = .lowThenHigh
    /// The initial count as written (0 means 65536).
    public var reload: UInt16 = 0
    /// The tick at which counting started from `reload` (nil: not counting yet).
    public var start: UInt64?
    /// The gate input (channels 0 and 1 are tied high; channel 2's comes from port 0x61).
    public var gate = true
    /// A count latched by a latch command, read before the live count.
    public var latched: UInt16?
    public var latchedStatus: UInt8?
    /// lowThenHigh reads and writes alternate bytes.
    public var readHighNext = false
    public var writeHighNext = false
    /// The low byte of a count being written.
    public var pendingLow: UInt8 = 0

    public init() {}

    var period: UInt64 { reload == 0 ? 65536 : UInt64(reload) }

    /// Ticks counted since the count was loaded (0 when not counting).
    func elapsed(at now: UInt64) -> UInt64 {
        guard let start, gate || mode == 0 || mode == 4 else { return 0 }
        return now >= start ? now - start : 0
    }

    /// The counting element's value at `now`.
    public func count(at now: UInt64) -> UInt16 {
        guard start != nil else { return reload }
        let ticks = elapsed(at: now)
        switch mode {
        case 2:
            return UInt16(truncatingIfNeeded: period - ticks % period)
        case 3:
            // Counts down by two, twice per period.
            let half = max(period / 2, 1)
            return UInt16(truncatingIfNeeded: (period - (2 * (ticks % half)) % period))
        default:
            // Modes 0, 1, 4, 5 count down once and then wrap through 0xFFFF.
            return UInt16(truncatingIfNeeded: period &- ticks)
        }
    }

    /// The OUT pin at `now`.
    public func output(at now: UInt64) -> Bool {
        guard start != nil else { return mode != 0 }
        let ticks = elapsed(at: now)
        switch mode {
        case 0: return ticks >= period
        case 2: return ticks % period != period - 1
        case 3: return ticks % period < (period + 1) / 2
        case 4: return ticks != period
        default: return true
        }
    }

    /// The next tick after `now` at which OUT rises (the moment a timer interrupt is raised), if any.
    public func nextRisingEdge(after now: UInt64) -> UInt64? {
        guard let start, gate else { return nil }
        let ticks = now >= start ? now - start : 0
        switch mode {
        case 0, 1:
            return ticks < period ? start + period : nil
        case 2, 3:
            return start + (ticks / period + 1) * period
        default:
            // Modes 4 and 5 (strobes; Linux's one-shot clock events use mode 4): OUT drops for one tick at terminal
            // count and rises again after it.
            return ticks <= period ? start + period + 1 : nil
        }
    }

    // MARK: Programming

    /// A control word for this channel (mode, access), or a counter latch command.
    public mutating func control(_ value: UInt8, at now: UInt64) {
        let accessBits = (value >> 4) & 3
        guard accessBits != 0 else {
            if latched == nil { latched = count(at: now) }
            return
        }
        access = Access(rawValue: accessBits) ?? .lowThenHigh
        mode = (value >> 1) & 7
        if mode > 5 { mode -= 4 }  // 6 and 7 are aliases of 2 and 3
        start = nil
        latched = nil
        readHighNext = false
        writeHighNext = false
    }

    /// A read-back command's status byte: OUT, null count, access and mode.
    public mutating func latchStatus(at now: UInt64) {
        guard latchedStatus == nil else { return }
        latchedStatus = (output(at: now) ? 0x80 : 0) | (start == nil ? 0x40 : 0) | (access.rawValue << 4) | (mode << 1)
    }

    public mutating func writeCount(_ byte: UInt8, at now: UInt64) {
        switch access {
        case .low:
            load(UInt16(byte), at: now)
        case .high:
            load(UInt16(byte) << 8, at: now)
        case .lowThenHigh, .latch:
            if writeHighNext {
                load(UInt16(pendingLow) | UInt16(byte) << 8, at: now)
            } else {
                pendingLow = byte
                // Writing the first byte stops mode 0 until the second arrives.
                if mode == 0 { start = nil }
            }
            writeHighNext.toggle()
        }
    }

    private mutating func load(_ value: UInt16, at now: UInt64) {
        reload = value
        // Loading takes effect on the next clock edge; one tick later keeps the arithmetic exact.
        start = now + 1
    }

    public mutating func read(at now: UInt64) -> UInt8 {
        if let status = latchedStatus {
            latchedStatus = nil
            return status
        }
        let value = latched ?? count(at: now)
        switch access {
        case .low:
            latched = nil
            return UInt8(truncatingIfNeeded: value)
        case .high:
            latched = nil
            return UInt8(truncatingIfNeeded: value >> 8)
        case .lowThenHigh, .latch:
            defer { readHighNext.toggle() }
            if readHighNext {
                latched = nil
                return UInt8(truncatingIfNeeded: value >> 8)
            }
            if latched == nil { latched = value }  // hold the value until its high byte is read
            return UInt8(truncatingIfNeeded: value)
        }
    }

    /// Channel 2's gate (port 0x61 bit 0): a rising edge restarts modes 1, 2, 3 and 5.
    public mutating func setGate(_ high: Bool, at now: UInt64) {
        if high && !gate && start != nil && [1, 2, 3, 5].contains(mode) { start = now + 1 }
        gate = high
    }
}
