public import ApusCore

/// A National Semiconductor 16550A UART as a state machine: what a PC's COM port is, and what Linux's 8250 driver
/// probes for (scratch register, IER, FIFO detection through IIR bits 6-7, MCR loopback).
///
/// The transmitter is infinitely fast (bytes go straight to the `SerialOutput`), so THR and the transmitter are always
/// empty. The receive side holds 16 bytes in FIFO mode and 1 otherwise. Wider accesses act on the low byte, as on the
/// PC's 8-bit bus; offsets past 7 read 0xFF and ignore writes.
///
/// Interrupt line: asserted while an enabled interrupt is pending and MCR.OUT2 is set — the PC gates COM interrupts
/// with OUT2 — and never in loopback mode, where OUT2 is wired internally to DCD.
public final class Serial16550: StatefulDevice {
    public static let fifoCapacity = 16

    private var state = State()
    private let interrupt: any InterruptLine
    private let output: any SerialOutput
    private var lineAsserted = false

    public init(interrupt: any InterruptLine, output: any SerialOutput) {
        self.interrupt = interrupt
        self.output = output
    }

    // MARK: Bus access

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let value: UInt8
        switch offset {
        case UARTRegister.data:
            value = divisorLatched ? state.divisorLow : readReceiveBuffer()
        case UARTRegister.interruptEnable:
            value = divisorLatched ? state.divisorHigh : state.interruptEnable
        case UARTRegister.interruptIdentity:
            value = readInterruptIdentity()
        case UARTRegister.lineControl:
            value = state.lineControl
        case UARTRegister.modemControl:
            value = state.modemControl
        case UARTRegister.lineStatus:
            value = lineStatus
            state.lineErrors = 0
        case UARTRegister.modemStatus:
            value = modemStatus
            state.modemDeltas = 0
        case UARTRegister.scratch:
            value = state.scratch
        default:
            return 0xFF
        }
        updateInterruptLine()
        return UInt64(value)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        switch offset {
        case UARTRegister.data:
            if divisorLatched { state.divisorLow = byte } else { transmit(byte) }
        case UARTRegister.interruptEnable:
            if divisorLatched {
                state.divisorHigh = byte
            } else {
                let newlyEnabled = byte & ~state.interruptEnable
                state.interruptEnable = byte & 0x0F
                // The transmitter is always empty, so enabling its interrupt raises it at once (as on the chip).
                if newlyEnabled & UARTBit.ierTransmitEmpty != 0 { state.transmitEmptyPending = true }
            }
        case UARTRegister.interruptIdentity:
            writeFIFOControl(byte)
        case UARTRegister.lineControl:
            state.lineControl = byte
        case UARTRegister.modemControl:
            state.modemControl = byte & 0x1F
            refreshModemLines()
        case UARTRegister.scratch:
            state.scratch = byte
        default:
            break
        }
        updateInterruptLine()
    }

    // MARK: Host side

    /// Host input (a keyboard, a pipe): accepts as many bytes as the receive FIFO has room for and returns that count.
    /// The caller keeps the rest and offers them again later, so nothing typed is lost. In loopback mode the serial
    /// input is disconnected, as on the chip, and nothing is accepted.
    @discardableResult
    public func receive(_ bytes: [UInt8]) -> Int {
        guard !loopback else { return 0 }
        let room = max(0, capacity - state.receiveFIFO.count)
        let accepted = min(room, bytes.count)
        state.receiveFIFO.append(contentsOf: bytes.prefix(accepted))
        updateInterruptLine()
        return accepted
    }

    /// Characters the guest lost to a full FIFO (only loopback traffic can overrun: host input waits for room).
    public var overrunCount: UInt64 { state.overrunCount }

    // MARK: State

    public func saveState() -> State { state }

    public func restoreState(_ newState: State) throws {
        guard newState.receiveFIFO.count <= Self.fifoCapacity else {
            throw DeviceStateError.invalid(device: "16550A UART",
                                           reason: "receive FIFO holds \(newState.receiveFIFO.count) bytes, more than \(Self.fifoCapacity)")
        }
        state = newState
        updateInterruptLine()
    }

    // MARK: Internals

    private var divisorLatched: Bool { state.lineControl & UARTBit.lcrDivisorLatch != 0 }
    private var fifoEnabled: Bool { state.fifoControl & UARTBit.fcrEnable != 0 }
    private var loopback: Bool { state.modemControl & UARTBit.mcrLoopback != 0 }
    private var capacity: Int { fifoEnabled ? Self.fifoCapacity : 1 }

    /// Receive trigger level from FCR bits 6-7: 1, 4, 8 or 14 bytes.
    private var triggerLevel: Int { fifoEnabled ? [1, 4, 8, 14][Int(state.fifoControl >> 6)] : 1 }

    private var lineStatus: UInt8 {
        var value = UARTBit.lsrTransmitEmpty | UARTBit.lsrTransmitterIdle | state.lineErrors
        if !state.receiveFIFO.isEmpty { value |= UARTBit.lsrDataReady }
        return value
    }

    private var modemStatus: UInt8 { state.modemLines | state.modemDeltas }

    private func readReceiveBuffer() -> UInt8 {
        guard !state.receiveFIFO.isEmpty else { return 0 }
        return state.receiveFIFO.removeFirst()
    }

    private func transmit(_ byte: UInt8) {
        state.transmitEmptyPending = state.interruptEnable & UARTBit.ierTransmitEmpty != 0
        if loopback {
            if state.receiveFIFO.count < capacity {
                state.receiveFIFO.append(byte)
            } else {
                state.lineErrors |= UARTBit.lsrOverrun
                state.overrunCount &+= 1
            }
        } else {
            output.transmit(byte)
        }
    }

    private func writeFIFOControl(_ byte: UInt8) {
        let wasEnabled = fifoEnabled
        // Changing the enable bit resets both FIFOs (datasheet); the clear bits self-clear.
        if byte & UARTBit.fcrClearReceive != 0 || (byte & UARTBit.fcrEnable != 0) != wasEnabled {
            state.receiveFIFO.removeAll()
        }
        state.fifoControl = byte & 0xC9
        if state.receiveFIFO.count > capacity { state.receiveFIFO.removeFirst(state.receiveFIFO.count - capacity) }
    }

    /// MSR upper bits: in loopback they mirror MCR (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2); otherwise a terminal is
    /// connected and ready (CTS, DSR, DCD).
    private func refreshModemLines() {
        var lines: UInt8 = UARTBit.msrCTS | UARTBit.msrDSR | UARTBit.msrDCD
        if loopback {
            let mcr = state.modemControl
            lines = 0
            if mcr & UARTBit.mcrRTS != 0 { lines |= UARTBit.msrCTS }
            if mcr & UARTBit.mcrDTR != 0 { lines |= UARTBit.msrDSR }
            if mcr & UARTBit.mcrOut1 != 0 { lines |= UARTBit.msrRI }
            if mcr & UARTBit.mcrOut2 != 0 { lines |= UARTBit.msrDCD }
        }
        let changed = lines ^ state.modemLines
        // Deltas: CTS, DSR and DCD report any change; RI reports its trailing edge only.
        var deltas = (changed >> 4) & 0x0B
        if state.modemLines & UARTBit.msrRI != 0 && lines & UARTBit.msrRI == 0 { deltas |= 0x04 }
        state.modemDeltas |= deltas
        state.modemLines = lines
    }

    /// The highest-priority pending, enabled interrupt, as an IIR identity code.
    private var pendingInterrupt: UInt8? {
        let enabled = state.interruptEnable
        if enabled & UARTBit.ierLineStatus != 0 && state.lineErrors != 0 { return UARTBit.iirLineStatus }
        if enabled & UARTBit.ierReceivedData != 0 && !state.receiveFIFO.isEmpty {
            // Time is not modelled: data below the trigger level reports the character timeout at once, which is what
            // a real UART does a few character times later.
            return state.receiveFIFO.count >= triggerLevel ? UARTBit.iirReceivedData : UARTBit.iirCharacterTimeout
        }
        if enabled & UARTBit.ierTransmitEmpty != 0 && state.transmitEmptyPending { return UARTBit.iirTransmitEmpty }
        if enabled & UARTBit.ierModemStatus != 0 && state.modemDeltas != 0 { return UARTBit.iirModemStatus }
        return nil
    }

    private func readInterruptIdentity() -> UInt8 {
        let fifoBits = fifoEnabled ? UARTBit.iirFIFOsEnabled : 0
        guard let identity = pendingInterrupt else { return UARTBit.iirNoInterrupt | fifoBits }
        // Reading IIR acknowledges a THR-empty interrupt when that is what it reports.
        if identity == UARTBit.iirTransmitEmpty { state.transmitEmptyPending = false }
        return identity | fifoBits
    }

    private func updateInterruptLine() {
        let gated = state.modemControl & UARTBit.mcrOut2 != 0 && !loopback
        let asserted = gated && pendingInterrupt != nil
        if asserted != lineAsserted {
            lineAsserted = asserted
            interrupt.setLevel(asserted)
        }
    }
}
