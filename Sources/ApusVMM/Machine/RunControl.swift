import ApusCore
import Foundation
import Synchronization

/// The rendezvous between a machine's owner and its vCPU threads: run, pause (every vCPU parked between exits),
/// stop, and the first outcome that ends the run.
///
/// vCPU threads read `attention` on every exit (one relaxed atomic load) and take the lock only when it is set, so
/// the exit path costs nothing while the machine simply runs.
final class RunControl: @unchecked Sendable {
    // @unchecked: every mutable field below is guarded by `condition`.
    enum Request { case run, pause, stop }
    enum Verdict { case proceed, stop }

    let attention = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var request: Request = .run
    private var kickers: [Int: any VCPUKicker] = [:]
    private var running = 0
    private var parked = 0
    private var created = 0
    private var outcome: MachineOutcome?
    /// Work a parked vCPU thread must do on its own thread (state capture), by vCPU index.
    private var tasks: [Int: [ParkedTask]] = [:]
    /// Run once the last vCPU thread has left (stopping the platform timer, for one).
    private var endOfRunHooks: [@Sendable () -> Void] = []

    /// Work for a parked vCPU; it runs on the vCPU's own thread because KVM wants vCPU ioctls there.
    final class ParkedTask: @unchecked Sendable {
        // @unchecked: `result` is written by the vCPU thread and read by the poster only after `done` under the lock.
        let body: @Sendable (any VCPUBackend) throws -> CPUState
        var result: Result<CPUState, any Error>?
        init(_ body: @escaping @Sendable (any VCPUBackend) throws -> CPUState) { self.body = body }
    }

    /// `startPaused` makes every vCPU park before its first instruction (a restored machine waits for resume).
    init(startPaused: Bool = false) {
        if startPaused {
            request = .pause
            attention.store(true, ordering: .releasing)
        }
    }

    /// Called by the owner before it spawns each vCPU thread.
    func expectVCPU() {
        condition.withLock { running += 1 }
    }

    /// Called on a vCPU thread once its vCPU exists and has its entry state; returns when all `total` vCPUs of the
    /// machine do (or the run is stopping). As on a real machine, every CPU exists before any runs: a start-up IPI
    /// the bootstrap processor sends must find its application processor.
    func vcpuCreated(expecting total: Int) -> Verdict {
        condition.withLock {
            created += 1
            condition.broadcast()
            while created < total && request != .stop { condition.wait() }
            return request == .stop ? .stop : .proceed
        }
    }

    /// Called on a vCPU thread before its first `run()`, so no later kick can miss it.
    func register(_ kicker: any VCPUKicker, for index: Int) {
        condition.withLock {
            kickers[index] = kicker
            if request != .run { kicker.kick() }
        }
    }

    /// Where a vCPU thread waits while the machine is paused, doing any work posted for it.
    /// Returns `.stop` when the thread must leave its loop.
    func checkpoint(index: Int, vcpu: any VCPUBackend) -> Verdict {
        condition.withLock {
            while request == .pause {
                parked += 1
                condition.broadcast()
                while request == .pause && (tasks[index] ?? []).isEmpty { condition.wait() }
                parked -= 1
                for task in tasks.removeValue(forKey: index) ?? [] {
                    task.result = Result { try task.body(vcpu) }
                }
                condition.broadcast()
            }
            return request == .stop ? .stop : .proceed
        }
    }

    /// Runs `body` on every parked vCPU's own thread and returns the results by vCPU index.
    /// The machine must be paused.
    func performOnParkedVCPUs(_ body: @escaping @Sendable (any VCPUBackend) throws -> CPUState) throws -> [Int: CPUState] {
        try condition.withLock {
            guard request == .pause, parked == running else {
                throw VMMError.invalidState("the machine must be paused first")
            }
            let posted = Dictionary(uniqueKeysWithValues: kickers.keys.map { ($0, ParkedTask(body)) })
            for (index, task) in posted { tasks[index, default: []].append(task) }
            condition.broadcast()
            while posted.values.contains(where: { $0.result == nil }) { condition.wait() }
            return try posted.mapValues { task in
                guard let result = task.result else { throw VMMError.invalidState("a vCPU did not answer") }
                return try result.get()
            }
        }
    }

    /// Records why the run ends (the first reason wins) and asks every vCPU to stop.
    func finish(_ reason: MachineOutcome) {
        condition.withLock {
            if outcome == nil { outcome = reason }
            requestLocked(.stop)
        }
    }

    /// A vCPU thread left its loop (halted, stopped or failed).
    func vcpuExited(halted: Bool) {
        let hooks = condition.withLock { () -> [@Sendable () -> Void] in
            running -= 1
            if running == 0 && outcome == nil { outcome = halted ? .halted : .stopped }
            condition.broadcast()
            guard running == 0 else { return [] }
            defer { endOfRunHooks.removeAll() }
            return endOfRunHooks
        }
        for hook in hooks { hook() }
    }

    /// Runs `hook` when the last vCPU thread leaves.
    func atEndOfRun(_ hook: @escaping @Sendable () -> Void) {
        condition.withLock { endOfRunHooks.append(hook) }
    }

    /// Parks every running vCPU; returns once all of them are parked (or gone).
    func pause() throws {
        try condition.withLock {
            guard request == .run else { throw VMMError.invalidState("the machine is not running") }
            requestLocked(.pause)
            while parked < running { condition.wait() }
        }
    }

    func resume() throws {
        try condition.withLock {
            guard request == .pause else { throw VMMError.invalidState("the machine is not paused") }
            request = .run
            attention.store(false, ordering: .releasing)
            condition.broadcast()
        }
    }

    func stop() {
        finish(.stopped)
    }

    /// Blocks until every vCPU thread has left its loop.
    func waitForOutcome() -> MachineOutcome {
        condition.withLock {
            while running > 0 { condition.wait() }
            return outcome ?? .stopped
        }
    }

    var isPaused: Bool { condition.withLock { request == .pause && parked == running } }

    /// How the run ended, once every vCPU thread has left; nil while it goes on.
    var finishedOutcome: MachineOutcome? { condition.withLock { running > 0 ? nil : outcome } }

    private func requestLocked(_ new: Request) {
        request = new
        attention.store(true, ordering: .releasing)
        for kicker in kickers.values { kicker.kick() }
        condition.broadcast()
    }
}

extension NSCondition {
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
