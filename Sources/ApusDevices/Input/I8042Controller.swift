public import ApusCore
import Synchronization

/// The PC's 8042 keyboard controller, for what a guest without a keyboard needs from it: the status register, the
/// controller command byte, the self and interface tests, and — its real use here — the CPU reset line (command 0xFE,
/// or an output-port write with bit 0 clear). Linux reboots through it with `reboot=k`, as Firecracker guests do.
/// No keyboard or mouse is attached: nothing ever produces scan codes, and the auxiliary port reports no device.
///
/// Port 0x60 is the data port (this device), port 0x64 the status/command port (`commandPort`).
public final class I8042Controller: StatefulDevice, @unchecked Sendable {
    // @unchecked: all mutable state is in the Mutex.
    public struct State: Codable, Sendable, Equatable {
        /// Controller command byte: bit 0 keyboard interrupt, bit 2 system flag, bit 4 keyboard disabled,
        /// bit 5 auxiliary disabled, bit 6 scan-code translation.
        public var commandByte: UInt8 = 0x45
        /// A byte waiting in the output buffer for the guest to read from port 0x60.
        public var output: UInt8?
        /// The command whose data byte the next write to port 0x60 carries (0x60 command byte, 0xD1 output port...).
        public var awaitingData: UInt8?
        /// Whether the last write went to the command port (status bit 3).
        public var lastWriteWasCommand = false
        public var outputPort: UInt8 = 0x01
        public init() {}
    }

    private let state = Mutex(State())
    private let onReset: @Sendable () -> Void

    /// `onReset` runs when the guest pulses the reset line.
    public init(onReset: @escaping @Sendable () -> Void) {
        self.onReset = onReset
    }

    /// Port 0x64: reads the status register, writes a controller command.
    public var commandPort: any BusDevice { I8042CommandPort(controller: self) }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        state.withLock { state in
            // Reading the data port empties the output buffer; an empty one reads as the last byte (zero here).
            let byte = state.output ?? 0
            state.output = nil
            return UInt64(byte)
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        let reset: Bool = state.withLock { state in
            state.lastWriteWasCommand = false
            guard let command = state.awaitingData else {
                // A byte for the keyboard itself: with none attached it is dropped, as a timed-out send would be.
                return false
            }
            state.awaitingData = nil
            switch command {
            case 0x60: state.commandByte = byte
            case 0xD1:
                state.outputPort = byte
                return byte & 0x01 == 0
            case 0xD2: state.output = byte      // write keyboard output buffer: echoed as if the keyboard sent it
            default: break                      // 0xD3 (aux output buffer) and 0xD4 (to aux device): no aux device
            }
            return false
        }
        if reset { onReset() }
    }

    func readStatus() -> UInt8 {
        state.withLock { state in
            var status: UInt8 = 0x10                               // keyboard not inhibited
            if state.output != nil { status |= 0x01 }              // output buffer full
            if state.commandByte & 0x04 != 0 { status |= 0x04 }    // system flag: self test passed
            if state.lastWriteWasCommand { status |= 0x08 }
            return status                                          // the input buffer is never full: no waiting
        }
    }

    func writeCommand(_ command: UInt8) {
        let reset: Bool = state.withLock { state in
            state.lastWriteWasCommand = true
            state.awaitingData = nil
            switch command {
            case 0x20: state.output = state.commandByte
            case 0x60, 0xD1, 0xD2, 0xD3, 0xD4: state.awaitingData = command
            case 0xA7: state.commandByte |= 0x20
            case 0xA8: state.commandByte &= ~0x20
            case 0xA9: state.output = 0xFF          // auxiliary interface test: no device (clock line stuck)
            case 0xAA:
                state.output = 0x55                 // self test passed, which also sets the system flag
                state.commandByte |= 0x04
            case 0xAB: state.output = 0x00          // keyboard interface test passed
            case 0xAD: state.commandByte |= 0x10
            case 0xAE: state.commandByte &= ~0x10
            case 0xC0: state.output = 0x00          // input port
            case 0xD0: state.output = state.outputPort
            case 0xF0...0xFF:
                // Pulse output-port lines; bit 0 low is the CPU reset line.
                return command & 0x01 == 0
            default: break
            }
            return false
        }
        if reset { onReset() }
    }

    public func saveState() -> State { state.withLock { $0 } }
    public func restoreState(_ newState: State) throws { state.withLock { $0 = newState } }
}

/// Port 0x64 of the 8042: a view onto the controller.
final class I8042CommandPort: BusDevice {
    let controller: I8042Controller
    init(controller: I8042Controller) { self.controller = controller }
    func read(offset: UInt64, size: Int) -> UInt64 { UInt64(controller.readStatus()) }
    func write(offset: UInt64, size: Int, value: UInt64) { controller.writeCommand(UInt8(truncatingIfNeeded: value)) }
}
