public import ApusCore
import Synchronization

/// An interrupt line that remembers every level it was driven to, for device tests.
public final class RecordingInterruptLine: InterruptLine {
    private let levels = Mutex<[Bool]>([])

    public init() {}

    public func setLevel(_ asserted: Bool) { levels.withLock { $0.append(asserted) } }

    /// Every level, oldest first.
    public var history: [Bool] { levels.withLock { $0 } }
    /// The current level (low if never driven).
    public var isAsserted: Bool { levels.withLock { $0.last ?? false } }
}
