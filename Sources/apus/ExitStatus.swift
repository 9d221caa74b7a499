import ApusVMM

/// Process exit statuses `apus run` uses; documented in `apus --help`.
enum ExitStatus {
    /// Apus could not build or run the machine, or the guest crashed (triple fault, internal error).
    static let vmmFailure: Int32 = 125
    static let interrupted: Int32 = 130
    /// Guest result codes above this are reported on stderr and clamped, so they never look like an Apus failure.
    static let largestGuestCode: UInt32 = 124

    static func forOutcome(_ outcome: MachineOutcome, convention: ExitStatusConvention = .apus) -> Int32 {
        if convention == .qemu, case .exited(let code) = outcome {
            // QEMU's isa-debug-exit ends the process with exit((V << 1) | 1); the shell sees the low 8 bits.
            return Int32((code << 1 | 1) & 0xFF)
        }
        switch outcome {
        case .exited(let code): return Int32(min(code, largestGuestCode))
        case .halted, .systemEvent: return 0
        case .stopped: return interrupted
        case .tripleFault, .failed: return vmmFailure
        }
    }
}

/// Whose meaning a debug-exit write has for `apus run`'s exit status.
enum ExitStatusConvention: String, CaseIterable, Sendable {
    /// The value written is the status (clamped to 124; 125 and up mean an Apus failure).
    case apus
    /// (V << 1) | 1, as QEMU's isa-debug-exit device gives it, so odd statuses are the guest's.
    case qemu
}
