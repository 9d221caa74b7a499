@testable import ApusDaemon
import ApusVMM
import Foundation
import Synchronization

/// A `MachineHandle` in the style of swift-nio's Embedded channel: no guest, no threads of its own; every call is
/// recorded and does what the test scripted for it (succeed, fail, block at a gate, end the run), and the run ends
/// exactly when the test says (`end(_:)`) or when the controller stops it.
final class ScriptedMachine: MachineHandle {
    enum Call: Equatable, Sendable {
        case pause, resume, suspend(to: String), stop, consoleInput([UInt8])
    }

    /// Tells the machines of one launcher apart; a restored machine knows whose state it was built from.
    let serial: Int
    let restoredFrom: Int?
    let backendName = "scripted"
    let backendNote: String? = nil
    /// The file `suspend(to:)` writes, holding the machine's serial: what a restore reads back.
    static let stateFile = "scripted-machine.state"

    private struct State {
        var paused = false
        var calls: [Call] = []
        var scripts: [Step: [MachineScript]] = [:]
        var end: RunEnd?
    }

    enum Step: Hashable, Sendable { case pause, resume, suspend }

    private let state = Mutex(State())
    /// Entered while the run lasts; `waitForOutcome` waits on it.
    private let running = DispatchGroup()

    init(serial: Int, restoredFrom: Int? = nil) {
        self.serial = serial
        self.restoredFrom = restoredFrom
        running.enter()
    }

    // MARK: The test's side

    /// Scripts the next call of `step` (calls without a script succeed).
    func script(_ step: Step, _ script: MachineScript) {
        state.withLock { $0.scripts[step, default: []].append(script) }
    }

    /// Ends the run as the guest or the worker would; a run that already ended keeps its first end.
    func end(_ end: RunEnd) {
        let first = state.withLock { state -> Bool in
            guard state.end == nil else { return false }
            state.end = end
            return true
        }
        if first { running.leave() }
    }

    var calls: [Call] { state.withLock { $0.calls } }
    var hasEnded: Bool { state.withLock { $0.end != nil } }

    // MARK: MachineHandle

    var isPaused: Bool { state.withLock { $0.paused } }
    var exitCounts: [String: Int] { ["scripted": calls.count] }

    func pause() throws {
        try play(.pause, recording: .pause)
        state.withLock { $0.paused = true }
    }

    func resume() throws {
        try play(.resume, recording: .resume)
        state.withLock { $0.paused = false }
    }

    /// Writes the state file into `directory`; a script's failure comes after a partial write, as a full disk would.
    func suspend(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: directory + "/memory.partial"))
        try play(.suspend, recording: .suspend(to: directory))
        try FileManager.default.removeItem(atPath: directory + "/memory.partial")
        try Data("\(serial)".utf8).write(to: URL(fileURLWithPath: directory + "/" + Self.stateFile))
    }

    func stop() {
        state.withLock { $0.calls.append(.stop) }
        end(.machine(.stopped))
    }

    func sendConsoleInput(_ bytes: [UInt8]) throws -> Int {
        state.withLock { $0.calls.append(.consoleInput(bytes)) }
        return bytes.count
    }

    func waitForOutcome() -> RunEnd {
        running.wait()
        return state.withLock { $0.end! }
    }

    private func play(_ step: Step, recording call: Call) throws {
        let script = state.withLock { state -> MachineScript in
            state.calls.append(call)
            guard var queued = state.scripts[step], !queued.isEmpty else { return .succeed }
            let next = queued.removeFirst()
            state.scripts[step] = queued
            return next
        }
        try script.play(ending: end)
    }
}
