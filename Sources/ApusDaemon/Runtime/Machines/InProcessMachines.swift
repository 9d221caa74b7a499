import ApusAPI
import ApusVMM
import Foundation

/// Runs each machine on threads of the daemon's own process: no isolation, no process to start. For the in-process
/// tests and for hosts where a worker cannot be started (`apusd --isolation none`).
struct InProcessMachines: MachineLauncher {
    let boot: BootPreparation

    func start(_ definition: VMDefinition, ownedOverlays: [String], vm id: String,
               console: ConsoleHub) throws -> any MachineHandle {
        let configuration = try boot.configuration(for: definition, ownedOverlays: ownedOverlays)
        let machine = try Machine(configuration: configuration, output: console)
        try machine.start()
        return InProcessMachine(machine: machine)
    }

    func restore(_ definition: VMDefinition, ownedOverlays: [String], vm id: String, from directory: String,
                 console: ConsoleHub) throws -> any MachineHandle {
        let machine = try Machine.restore(from: URL(fileURLWithPath: directory), output: console,
                                          backend: try BootPreparation.backend(of: definition))
        try machine.start()
        try machine.resume()
        return InProcessMachine(machine: machine)
    }
}

/// A machine in this process, driven directly.
struct InProcessMachine: MachineHandle {
    let machine: Machine

    var backendName: String { machine.backendName }
    var backendNote: String? { machine.backendNote }
    var isPaused: Bool { machine.isPaused }
    var exitCounts: [String: Int] { machine.exitCounts }
    func pause() throws { try machine.pause() }
    func resume() throws { try machine.resume() }
    func suspend(to directory: String) throws { try machine.suspend(to: URL(fileURLWithPath: directory)) }
    func stop() { machine.stop() }
    func sendConsoleInput(_ bytes: [UInt8]) throws -> Int { machine.sendConsoleInput(bytes) }
    func waitForOutcome() -> RunEnd { .machine(machine.waitForOutcome()) }
}
