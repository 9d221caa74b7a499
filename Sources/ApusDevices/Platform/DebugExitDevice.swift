public import ApusCore

/// The port (0xF4) through which our test guests report a result code and end the run. Any write of 1, 2 or 4
/// bytes is the code; the handler (the VMM) stops the machine. Reads return 0.
public final class DebugExitDevice: StatefulDevice {
    public struct State: Codable, Sendable, Equatable {
        /// The last code written, if any.
        public var resultCode: UInt32?
        public init(resultCode: UInt32? = nil) { self.resultCode = resultCode }
    }

    private var state = State()
    private let onExit: @Sendable (UInt32) -> Void

    public init(onExit: @escaping @Sendable (UInt32) -> Void) {
        self.onExit = onExit
    }

    public var resultCode: UInt32? { state.resultCode }

    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let code = UInt32(truncatingIfNeeded: value)
        state.resultCode = code
        onExit(code)
    }

    public func saveState() -> State { state }
    public func restoreState(_ newState: State) throws { state = newState }
}
