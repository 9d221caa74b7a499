import ApusAPI
import Foundation

/// What the state directory keeps of one VM: its definition and its last lifecycle state, in one JSON file written
/// atomically, so the two can never disagree after a crash.
struct VMRecord: Codable, Sendable, Equatable {
    static let formatVersion = 1

    var formatVersion = VMRecord.formatVersion
    var id: String
    var definition: VMDefinition
    var state: VMState
    var reason: String?
    var since: Date
    /// The last operation asked of the VM (absent in records written before operations had ids).
    var lastOperation: OperationRecord?
    /// Set for a VM made by cloning a template.
    var clone: CloneOrigin?
}
