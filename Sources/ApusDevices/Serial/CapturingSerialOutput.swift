import Synchronization

/// Keeps every transmitted byte in memory: the VMM tees console output into it, and tests read what a guest printed.
public final class CapturingSerialOutput: SerialOutput {
    private let bytes = Mutex<[UInt8]>([])

    public init() {}

    public func transmit(_ byte: UInt8) { bytes.withLock { $0.append(byte) } }

    public var data: [UInt8] { bytes.withLock { $0 } }

    /// The output as text; invalid UTF-8 from a hostile guest becomes U+FFFD instead of failing.
    public var text: String { String(decoding: data, as: UTF8.self) }
}
