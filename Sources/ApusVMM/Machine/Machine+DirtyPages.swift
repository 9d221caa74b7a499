public import ApusCore

/// Dirty-page tracking for live snapshots and migration: one tracker at a time per machine.
extension Machine {
    /// Starts tracking the pages anyone writes — the guest or the VMM — and returns the tracker to take them from.
    /// Refused while another tracker is active, and on a backend that keeps no log of its vCPUs' writes.
    public func startDirtyPageTracking() throws -> DirtyPageTracker {
        try dirtyPageTracker.withLock { active in
            guard active == nil else {
                throw VMMError.invalidState("dirty-page tracking is already running on this machine")
            }
            let tracker = try DirtyPageTracker(memory: parts.memory, backend: parts.backend)
            active = tracker
            return tracker
        }
    }

    /// Stops the active tracker, if any.
    public func stopDirtyPageTracking() throws {
        try dirtyPageTracker.withLock { active in
            defer { active = nil }
            try active?.stop()
        }
    }
}
