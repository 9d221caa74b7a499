@testable import ApusDaemon

/// What one scripted call does, in this order: stop at `gate` until the test opens it, end the run with `endRun`
/// (the guest powers off, the worker dies), then fail with `failure`. An empty script lets the call succeed at once.
struct MachineScript: Sendable {
    var gate: Gate?
    var endRun: RunEnd?
    var failure: (any Error & Sendable)?

    static let succeed = MachineScript()
    static func fail(_ error: any Error & Sendable) -> MachineScript { MachineScript(failure: error) }
    static func block(_ gate: Gate) -> MachineScript { MachineScript(gate: gate) }

    /// Carries the script out on the calling thread; `end` ends the machine's run.
    func play(ending end: (RunEnd) -> Void) throws {
        gate?.pass()
        if let endRun { end(endRun) }
        if let failure { throw failure }
    }
}

/// A failure a scripted machine reports, as a worker's reply would carry it.
struct ScriptedFailure: Error, CustomStringConvertible, Equatable {
    let description: String
    init(_ description: String) { self.description = description }
}
