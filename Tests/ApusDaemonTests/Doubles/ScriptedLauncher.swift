@testable import ApusDaemon
import ApusAPI
import Foundation
import Synchronization

/// A `MachineLauncher` whose starts and restores do what the test scripted (succeed, fail, block at a gate) and hand
/// out `ScriptedMachine`s; a restore reads back the state file a scripted suspend wrote, so a lost or stale saved
/// state fails the restore as it would fail a real one.
final class ScriptedLauncher: MachineLauncher {
    enum Kind: Equatable, Sendable { case start, restore }

    struct Launch: Sendable {
        let kind: Kind
        let vm: String
        let directory: String?
        /// Nil when the launch failed.
        let machine: ScriptedMachine?
    }

    private struct State {
        var launches: [Launch] = []
        var scripts: [Kind: [MachineScript]] = [:]
        var nextSerial = 1
    }

    private let state = Mutex(State())

    /// Scripts the next start or restore (launches without a script succeed).
    func script(_ kind: Kind, _ script: MachineScript) {
        state.withLock { $0.scripts[kind, default: []].append(script) }
    }

    var launches: [Launch] { state.withLock { $0.launches } }
    /// The machines launched so far, oldest first.
    var machines: [ScriptedMachine] { launches.compactMap(\.machine) }
    var latest: ScriptedMachine? { machines.last }

    func start(_ definition: VMDefinition, ownedOverlays: [String], vm id: String,
               console: ConsoleHub) throws -> any MachineHandle {
        try launch(.start, vm: id, directory: nil) { ScriptedMachine(serial: $0) }
    }

    func restore(_ definition: VMDefinition, ownedOverlays: [String], vm id: String, from directory: String,
                 console: ConsoleHub) throws -> any MachineHandle {
        try launch(.restore, vm: id, directory: directory) { serial in
            let saved = try String(contentsOfFile: directory + "/" + ScriptedMachine.stateFile, encoding: .utf8)
            guard let from = Int(saved) else { throw ScriptedFailure("unreadable saved state '\(saved)'") }
            return ScriptedMachine(serial: serial, restoredFrom: from)
        }
    }

    private func launch(_ kind: Kind, vm: String, directory: String?,
                        make: (Int) throws -> ScriptedMachine) throws -> any MachineHandle {
        let (script, serial) = state.withLock { state -> (MachineScript, Int) in
            defer { state.nextSerial += 1 }
            guard var queued = state.scripts[kind], !queued.isEmpty else { return (.succeed, state.nextSerial) }
            let next = queued.removeFirst()
            state.scripts[kind] = queued
            return (next, state.nextSerial)
        }
        do {
            // A launch's script cannot end a run that does not exist yet: its `endRun` is ignored.
            try script.play(ending: { _ in })
            let machine = try make(serial)
            state.withLock { $0.launches.append(Launch(kind: kind, vm: vm, directory: directory, machine: machine)) }
            return machine
        } catch {
            state.withLock { $0.launches.append(Launch(kind: kind, vm: vm, directory: directory, machine: nil)) }
            throw error
        }
    }
}
