public import Foundation

/// A VM as the API reports it.
public struct VMInfo: Codable, Sendable, Equatable {
    public var id: String
    public var definition: VMDefinition
    public var state: VMState
    /// Why the VM is in its state, when that is worth saying ("guest powered off", "crashed: triple fault", ...).
    public var reason: String?
    /// When it entered the state.
    public var since: Date
    /// The backend running it ("kvm" or "soft") while it is active or paused.
    public var runningBackend: String?
    /// Exits by kind since the current run started (active and paused VMs).
    public var exits: [String: Int]?
    public var allowedOperations: [VMOperation]
    /// The last lifecycle operation asked of the VM and how it ended (kept across daemon restarts).
    public var lastOperation: OperationRecord?
    /// For a clone: the id of the template it was cloned from (its writable disks are overlays of the template's).
    public var clonedFrom: String?

    public init(id: String, definition: VMDefinition, state: VMState, reason: String?, since: Date,
                runningBackend: String?, exits: [String: Int]?, lastOperation: OperationRecord? = nil,
                clonedFrom: String? = nil) {
        self.id = id
        self.definition = definition
        self.state = state
        self.reason = reason
        self.since = since
        self.runningBackend = runningBackend
        self.exits = exits
        self.allowedOperations = state.allowedOperations
        self.lastOperation = lastOperation
        self.clonedFrom = clonedFrom
    }
}
