import ApusVMM

/// Process exit statuses `apus run` uses; documented in `apus --help`.
enum ExitStatus {
    /// Apus could not build or run the machine, or the guest crashed (triple fault, internal error).
    static let vmmFailure: Int32 = 125
    static let interrupted: Int32 = 130
    /// Guest result codes above this are reported on stderr and clamped, so they never look like an Apus failure.
    static let largestGuestCode: UInt32 = 124

    static func forOutcome(_ outcome: MachineOutcome) -> Int32 {
        switch outcome {
        case .exited(let code): return Int32(min(code, largestGuestCode))
        case .halted, .systemEvent: return 0
        case .stopped: return interrupted
        case .tripleFault, .failed: return vmmFailure
        }
    }
}
