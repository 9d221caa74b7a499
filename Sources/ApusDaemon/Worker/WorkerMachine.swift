import ApusCore
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's side of one worker: requests go out as frames and wait for their reply; one reader thread takes the
/// worker's reports (replies, console output, stats, the end of the run), and when the channel ends it reaps the
/// process and records how the run ended. A worker that sends a frame the protocol does not allow is killed.
final class WorkerMachine: MachineHandle {
    let pid: pid_t
    private let channel: WorkerChannel
    private let vm: String
    private let name: String
    private let console: ConsoleHub
    private let logger: Logger
    /// The worker's own cgroup, removed once it is reaped.
    private let cgroup: String?
    private let state = Mutex(State())
    /// Entered at birth, left once the process is reaped: `waitForOutcome` waits on it.
    private let finished = DispatchGroup()

    private struct State {
        var nextRequest: UInt64 = 1
        var pending: [UInt64: PendingReply] = [:]
        var stats = WorkerStats(paused: false, exits: [:])
        var backend = "?"
        var backendNote: String?
        var reported: RunEnd?
        /// Set once the process has exited (it may still be a zombie): no signal is sent to its pid after that.
        var exited = false
        var end: RunEnd?
    }

    init(pid: pid_t, channel: WorkerChannel, vm: String, name: String, console: ConsoleHub, cgroup: String? = nil,
         logger: Logger = Logger(label: "apusd")) {
        self.pid = pid
        self.cgroup = cgroup
        self.channel = channel
        self.vm = vm
        self.name = name
        self.console = console
        self.logger = logger
        finished.enter()
        let reader = Thread { [self] in readReports() }
        reader.name = "apus-worker-\(name)"
        reader.start()
    }

    /// Sends the start and waits for the worker to say the machine runs; on failure the worker is gone (reaped).
    func begin(_ start: WorkerStart) throws {
        let pending = PendingReply()
        state.withLock { $0.pending[0] = pending }
        do {
            try channel.send(start)
        } catch {
            channel.shutDown()
        }
        let reply: WorkerReply
        do {
            reply = try pending.wait()
        } catch {
            _ = waitForOutcome()
            throw error
        }
        if let failure = reply.failure {
            _ = waitForOutcome()
            throw failure.daemonError
        }
        state.withLock { state in
            state.backend = reply.backend ?? "?"
            state.backendNote = reply.backendNote
            if let stats = reply.stats { state.stats = stats }
        }
    }

    var backendName: String { state.withLock { $0.backend } }
    var backendNote: String? { state.withLock { $0.backendNote } }
    var isPaused: Bool { state.withLock { $0.stats.paused } }
    var exitCounts: [String: Int] { state.withLock { $0.stats.exits } }

    func pause() throws { _ = try call(.pause) }
    func resume() throws { _ = try call(.resume) }
    func suspend(to directory: String) throws { _ = try call(.suspend(directory: directory)) }
    func sendConsoleInput(_ bytes: [UInt8]) throws -> Int { try call(.consoleInput(Data(bytes))).accepted ?? 0 }

    /// Asks the worker to stop; one that does not end within `stopGrace` is killed.
    func stop() {
        let id = state.withLock { state in
            defer { state.nextRequest += 1 }
            return state.nextRequest
        }
        try? channel.send(WorkerRequest(id: id, action: .stop))
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.stopGrace) { [self] in kill(signal: SIGKILL) }
    }

    static let stopGrace: Double = 10

    func waitForOutcome() -> RunEnd {
        finished.wait()
        return state.withLock { $0.end ?? .workerExited(how: "unknown") }
    }

    /// Sends a signal unless the process has already exited (its pid may then belong to another process).
    func kill(signal: Int32) {
        state.withLock { state in
            guard !state.exited else { return }
            _ = Glibc.kill(pid, signal)
        }
    }

    private func call(_ action: WorkerRequest.Action) throws -> WorkerReply {
        let pending = PendingReply()
        let id = try state.withLock { state -> UInt64 in
            if let end = state.end { throw DaemonError.internal("the worker of VM '\(name)' has ended: \(end)") }
            defer { state.nextRequest += 1 }
            state.pending[state.nextRequest] = pending
            return state.nextRequest
        }
        do {
            try channel.send(WorkerRequest(id: id, action: action))
        } catch {
            _ = state.withLock { $0.pending.removeValue(forKey: id) }
            throw DaemonError.internal("the worker of VM '\(name)' does not answer: \(error)")
        }
        let reply = try pending.wait()
        if let failure = reply.failure { throw failure.daemonError }
        return reply
    }

    private func readReports() {
        var failure: WorkerChannel.Failure?
        while true {
            let report: WorkerReport
            do {
                report = try channel.receive(WorkerReport.self)
            } catch let error as WorkerChannel.Failure {
                failure = error
                break
            } catch {
                failure = .malformed("\(error)")
                break
            }
            handle(report)
        }
        if let failure, case .closed = failure {} else if let failure {
            logger.error("VM \(name): its worker (pid \(pid)) broke the protocol, so it is killed: \(failure)",
                         metadata: ["vm": "\(vm)"])
            kill(signal: SIGKILL)
        }
        channel.shutDown()
        close(channel.descriptor)
        reap()
    }

    private func handle(_ report: WorkerReport) {
        switch report {
        case .reply(let reply):
            let pending = state.withLock { state in
                if let stats = reply.stats { state.stats = stats }
                return state.pending.removeValue(forKey: reply.id)
            }
            pending?.complete(.success(reply))
        case .console(let bytes):
            for byte in bytes { console.transmit(byte) }
        case .stats(let stats):
            state.withLock { $0.stats = stats }
        case .ended(let outcome):
            state.withLock { $0.reported = .machine(outcome.outcome) }
        }
    }

    /// Waits for the process to exit, notes it, then collects it (no zombie is left) and records how the run ended.
    private func reap() {
        var info = siginfo_t()
        _ = SystemCall.retryingInterrupts { waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) }
        var status: Int32 = 0
        let pending = state.withLock { state in
            state.exited = true
            _ = SystemCall.retryingInterrupts { waitpid(pid, &status, 0) }
            let how = WorkerSpawn.describe(status: status)
            state.end = state.reported ?? .workerExited(how: how)
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        if let cgroup, let failure = WorkerCgroups.remove(cgroup) {
            logger.warning("VM \(name): cannot remove its worker's cgroup \(cgroup): \(failure)", metadata: ["vm": "\(vm)"])
        }
        let end = waitForEnd()
        if case .workerExited(let how) = end {
            logger.error("VM \(name): its worker (pid \(pid)) exited without ending the run: \(how)", metadata: ["vm": "\(vm)"])
        }
        for reply in pending {
            reply.complete(.failure(DaemonError.internal("the worker of VM '\(name)' exited: \(end)")))
        }
        finished.leave()
    }

    private func waitForEnd() -> RunEnd { state.withLock { $0.end ?? .workerExited(how: "unknown") } }
}

/// One request's reply, handed from the reader thread to the waiting caller.
final class PendingReply: Sendable {
    private let result = Mutex<Result<WorkerReply, DaemonError>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func complete(_ outcome: Result<WorkerReply, DaemonError>) {
        result.withLock { $0 = outcome }
        ready.signal()
    }

    func wait() throws -> WorkerReply {
        ready.wait()
        return try result.withLock { $0! }.get()
    }
}
