import Foundation
import Synchronization

/// A point where a scripted call stops until the test lets it through: the test awaits `arrival()` to know the call
/// is under way (so another operation can be made to race it), then calls `open()`. The call blocks a dispatch
/// thread, as a real machine's pause or suspend does; the test's side never blocks a Swift concurrency thread.
final class Gate: Sendable {
    private struct State {
        var arrived = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let opened = DispatchSemaphore(value: 0)

    /// Called by the scripted machine: reports the arrival, then waits for `open()`.
    func pass() {
        let waiters = state.withLock { state in
            state.arrived = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
        opened.wait()
    }

    /// Returns once a call has reached the gate.
    func arrival() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let arrived = state.withLock { state in
                if !state.arrived { state.waiters.append(continuation) }
                return state.arrived
            }
            if arrived { continuation.resume() }
        }
    }

    /// Lets the waiting call (or the next one to arrive) through.
    func open() { opened.signal() }
}
