import ApusAPI
import Foundation
import Synchronization

/// The lifecycle event stream: numbered events, the last `capacity` kept for clients that reconnect, and live
/// delivery to every subscriber.
///
/// Sequence numbers keep growing across daemon restarts: a run starts numbering at the current time in microseconds,
/// so a client that reconnects to a restarted daemon with the last number it saw gets every event of the new run.
final class EventLog: Sendable {
    static let capacity = 4096

    init(firstSequence: UInt64 = EventLog.sequenceStartingNow()) {
        state = Mutex(State(nextSequence: max(firstSequence, 1)))
    }

    static func sequenceStartingNow() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
    }

    private struct State {
        var nextSequence: UInt64
        var recent: [LifecycleEvent] = []
        var subscribers: [UInt64: AsyncStream<LifecycleEvent>.Continuation] = [:]
        var nextSubscriber: UInt64 = 0
    }

    private let state: Mutex<State>

    @discardableResult
    func record(vm: String, name: String, kind: LifecycleEvent.Kind, state vmState: VMState?, reason: String?,
                operation: String? = nil) -> LifecycleEvent {
        state.withLock { state in
            let event = LifecycleEvent(sequence: state.nextSequence, time: Date(), vm: vm, name: name, kind: kind,
                                       state: vmState, reason: reason, operation: operation)
            state.nextSequence += 1
            state.recent.append(event)
            if state.recent.count > Self.capacity { state.recent.removeFirst(state.recent.count - Self.capacity) }
            for continuation in state.subscribers.values { continuation.yield(event) }
            return event
        }
    }

    /// Events after `sequence` still buffered, followed by every new one; the stream ends when `finishAll` runs
    /// (daemon shutdown) or the consumer stops iterating.
    func subscribe(after sequence: UInt64) -> EventSubscription {
        let (stream, continuation) = AsyncStream<LifecycleEvent>.makeStream(bufferingPolicy: .bufferingNewest(Self.capacity))
        let key = state.withLock { state in
            for event in state.recent where event.sequence > sequence { continuation.yield(event) }
            let key = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[key] = continuation
            return key
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: key) }
        }
        return EventSubscription(events: stream, finish: { continuation.finish() })
    }

    var lastSequence: UInt64 { state.withLock { $0.nextSequence - 1 } }

    func finishAll() {
        let continuations = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in continuations { continuation.finish() }
    }
}

/// A client's stream of events and the way to end it (daemon shutdown, or the client leaving).
struct EventSubscription: Sendable {
    let events: AsyncStream<LifecycleEvent>
    let finish: @Sendable () -> Void
}
