public import Foundation

/// One lifecycle operation on a VM, identified so that a client whose reply was lost (the connection dropped, the
/// daemon was killed mid-resume) can find out what happened: the VM reports its last operation, and every event an
/// operation causes carries its id. A client may choose the id (`Operation-Id` request header) or take the one the
/// daemon made (the same response header, and `lastOperation.id`).
public struct OperationRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case running, succeeded, failed
        /// apusd stopped (crashed, was killed) while the operation ran; the VM's state says where it ended up.
        case interrupted
    }

    /// Letters, digits, '.', '_' and '-', at most this long.
    public static let maximumIDLength = 64

    public var id: String
    public var operation: VMOperation
    public var status: Status
    /// Why it failed or was interrupted.
    public var message: String?
    public var started: Date
    public var finished: Date?

    public init(id: String, operation: VMOperation, status: Status, message: String? = nil, started: Date,
                finished: Date? = nil) {
        self.id = id
        self.operation = operation
        self.status = status
        self.message = message
        self.started = started
        self.finished = finished
    }

    /// Why `id` cannot name an operation, or nil when it can.
    public static func problem(withID id: String) -> String? {
        let allowed = id.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
        }
        guard !id.isEmpty, id.utf8.count <= maximumIDLength, allowed else {
            return "Operation-Id must be 1 to \(maximumIDLength) letters, digits, '.', '_' or '-', got '\(id.prefix(80))'"
        }
        return nil
    }
}
