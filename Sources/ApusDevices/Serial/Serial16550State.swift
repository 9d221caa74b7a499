extension Serial16550 {
    /// Everything a 16550A holds, as a value: saving and restoring it resumes the UART exactly, FIFO included.
    public struct State: Codable, Sendable, Equatable {
        public var interruptEnable: UInt8 = 0
        public var lineControl: UInt8 = 0x03
        public var modemControl: UInt8 = 0
        public var scratch: UInt8 = 0
        public var divisorLow: UInt8 = 0x0C
        public var divisorHigh: UInt8 = 0
        public var fifoControl: UInt8 = 0
        /// Overrun, parity, framing and break bits of the LSR, kept until the LSR is read.
        public var lineErrors: UInt8 = 0
        /// Modem-status delta bits (MSR bits 0-3), kept until the MSR is read.
        public var modemDeltas: UInt8 = 0
        /// The modem-status lines last reported (MSR bits 4-7), to compute deltas.
        public var modemLines: UInt8 = 0xB0
        /// A THR-empty interrupt is pending (set when the transmitter empties, cleared by an IIR read or a THR write).
        public var transmitEmptyPending = false
        public var receiveFIFO: [UInt8] = []
        /// Characters the guest lost because its receive FIFO was full.
        public var overrunCount: UInt64 = 0

        public init() {}
    }
}
