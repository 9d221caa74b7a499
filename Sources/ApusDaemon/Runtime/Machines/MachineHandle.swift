import ApusAPI
import ApusVMM

/// What a VM's controller needs from its running machine, wherever the machine runs: in the daemon's own process
/// (`InProcessMachines`) or in a worker process of its own (`WorkerMachines`). Calls block; the controller makes them
/// on the VM's serial queue.
protocol MachineHandle: Sendable {
    /// "kvm" or "soft".
    var backendName: String { get }
    /// Why `auto` chose the backend it did, when that is not the obvious choice.
    var backendNote: String? { get }
    var isPaused: Bool { get }
    /// Exits by kind so far, for the VM's info and the metrics.
    var exitCounts: [String: Int] { get }
    func pause() throws
    func resume() throws
    /// Writes the (paused) machine to `directory`; the machine keeps existing until `stop()`.
    func suspend(to directory: String) throws
    /// Ends the run; `waitForOutcome()` then returns promptly.
    func stop()
    /// Feeds console input to the guest; returns how many bytes its UART accepted.
    func sendConsoleInput(_ bytes: [UInt8]) throws -> Int
    /// Blocks until the run ends, however it ends.
    func waitForOutcome() -> RunEnd
}

/// How a run ended: the machine's own outcome, or the process that ran it died first.
enum RunEnd: Sendable, Equatable, CustomStringConvertible {
    case machine(MachineOutcome)
    /// The worker process ended without reporting an outcome; `how` is "signal 9" or "status 3".
    case workerExited(how: String)

    var description: String {
        switch self {
        case .machine(let outcome): return outcome.description
        case .workerExited(let how): return "worker exited: \(how)"
        }
    }
}

/// Makes running machines for VMs; console output goes to the VM's hub.
protocol MachineLauncher: Sendable {
    /// Builds the machine from its definition and starts it running. `ownedOverlays` are the clone overlays the
    /// VM's disks may name (its own).
    func start(_ definition: VMDefinition, ownedOverlays: [String], vm id: String,
               console: ConsoleHub) throws -> any MachineHandle
    /// Rebuilds the machine from the state `suspend(to:)` wrote and lets it run on.
    func restore(_ definition: VMDefinition, ownedOverlays: [String], vm id: String, from directory: String,
                 console: ConsoleHub) throws -> any MachineHandle
}
