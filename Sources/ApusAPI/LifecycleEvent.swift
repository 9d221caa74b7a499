public import Foundation

/// One entry of the lifecycle event stream. `sequence` grows by one per event for the daemon's lifetime, so a client
/// that reconnects with the last sequence it saw (SSE `Last-Event-ID`, or `?since=`) misses nothing still buffered.
public struct LifecycleEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case defined, cloned, updated, started, paused, resumed, suspended, restored, stopped, rebooted
        case poweredOff = "powered-off"
        case crashed, undefined
    }

    public var sequence: UInt64
    public var time: Date
    public var vm: String
    public var name: String
    public var kind: Kind
    /// The state after the event (nil once undefined).
    public var state: VMState?
    public var reason: String?
    /// The id of the operation that caused the event; nil for what the guest did by itself (power-off, crash).
    public var operation: String?

    public init(sequence: UInt64, time: Date, vm: String, name: String, kind: Kind, state: VMState?, reason: String?,
                operation: String? = nil) {
        self.sequence = sequence
        self.time = time
        self.vm = vm
        self.name = name
        self.kind = kind
        self.state = state
        self.reason = reason
        self.operation = operation
    }
}
