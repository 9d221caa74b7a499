public import ApusCore

/// Port 0x80, the PC's power-on self-test code latch: firmware writes progress codes here and Linux uses it as an
/// I/O delay. It keeps the last byte written and reads it back, like a POST card.
public final class PostCodePort: StatefulDevice {
    public struct State: Codable, Sendable, Equatable {
        public var lastCode: UInt8
        public init(lastCode: UInt8 = 0) { self.lastCode = lastCode }
    }

    private var state = State()

    public init() {}

    public var lastCode: UInt8 { state.lastCode }

    public func read(offset: UInt64, size: Int) -> UInt64 { UInt64(state.lastCode) }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        state.lastCode = UInt8(truncatingIfNeeded: value)
    }

    public func saveState() -> State { state }
    public func restoreState(_ newState: State) throws { state = newState }
}
