import ApusDevices
import Synchronization

/// A VM's serial console seen from the host: keeps the last `capacity` bytes for clients that attach later and passes
/// new output to every attached client. It outlives individual runs, so output survives a stop or a reboot.
final class ConsoleHub: SerialOutput {
    static let capacity = 64 << 10

    private struct State {
        /// A ring: `head` is where the next byte goes once `backlog` is full.
        var backlog: [UInt8] = []
        var head = 0
        var clients: [UInt64: ConsoleSubscription] = [:]
        var nextClient: UInt64 = 0

        var ordered: [UInt8] { Array(backlog[head...] + backlog[..<head]) }
    }

    private let state = Mutex(State())

    /// Called on a vCPU thread for every byte the guest transmits.
    func transmit(_ byte: UInt8) {
        state.withLock { state in
            if state.backlog.count < Self.capacity {
                state.backlog.append(byte)
            } else {
                state.backlog[state.head] = byte
                state.head = (state.head + 1) % Self.capacity
            }
            for client in state.clients.values { client.append(byte) }
        }
    }

    /// The buffered output, oldest byte first.
    var backlog: [UInt8] { state.withLock { $0.ordered } }

    /// A client's view: the backlog (when asked) followed by live output, in batches.
    func attach(replay: Bool) -> ConsoleSubscription {
        state.withLock { state in
            let key = state.nextClient
            state.nextClient += 1
            let subscription = ConsoleSubscription(initial: replay ? state.ordered : []) { [weak self] in
                _ = self?.state.withLock { $0.clients.removeValue(forKey: key) }
            }
            state.clients[key] = subscription
            return subscription
        }
    }

    func detachAll() {
        let clients = state.withLock { state in
            defer { state.clients.removeAll() }
            return Array(state.clients.values)
        }
        for client in clients { client.finish() }
    }
}

/// Output for one attached client. The guest's thread appends bytes and signals; the client's task drains whatever
/// has accumulated, so a fast guest produces few large writes rather than one write per byte. A slow client loses
/// the oldest bytes beyond `ConsoleHub.capacity` instead of holding up the guest.
final class ConsoleSubscription: Sendable {
    private let pending: Mutex<[UInt8]>
    private let signals: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(initial: [UInt8], onEnd: @escaping @Sendable () -> Void) {
        pending = Mutex(initial)
        (signals, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { _ in onEnd() }
        if !initial.isEmpty { continuation.yield() }
    }

    func append(_ byte: UInt8) {
        pending.withLock { pending in
            if pending.count >= ConsoleHub.capacity { pending.removeFirst(pending.count / 2) }
            pending.append(byte)
        }
        continuation.yield()
    }

    func finish() { continuation.finish() }

    /// Batches of output until the subscription ends (the VM is undefined or the daemon stops) or the task is
    /// cancelled.
    var batches: AsyncStream<[UInt8]> {
        let signals = self.signals
        return AsyncStream { [self] in
            for await _ in signals {
                let batch = pending.withLock { pending in
                    defer { pending.removeAll(keepingCapacity: true) }
                    return pending
                }
                if !batch.isEmpty { return batch }
            }
            return nil
        }
    }
}
