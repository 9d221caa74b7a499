/// The four lifecycle states (DEVELOPERS.md): what a VM holds in each, and which operations leave it.
public enum VMState: String, Codable, Sendable, CaseIterable {
    /// Defined and persisted, not running: no memory, no threads.
    case inactive
    /// Its vCPUs run the guest.
    case active
    /// Its vCPUs are stopped; guest memory stays resident.
    case paused
    /// Its complete machine state and memory are on disk; every host resource is released.
    case suspended

    /// The operations allowed in this state; any other answers 409 with this list.
    public var allowedOperations: [VMOperation] {
        switch self {
        case .inactive: return [.start, .update, .undefine]
        case .active: return [.pause, .suspend, .stop, .reboot]
        case .paused: return [.resume, .suspend, .stop, .reboot]
        case .suspended: return [.resume, .stop]
        }
    }

    public func allows(_ operation: VMOperation) -> Bool { allowedOperations.contains(operation) }
}

/// What a client can ask of a defined VM.
public enum VMOperation: String, Codable, Sendable, CaseIterable {
    case start, pause, resume, suspend, stop, reboot, update, undefine
}
