import ApusAPI
import Foundation
import HTTPTypes

/// Where operation ids come from: the client's `Operation-Id` header when it sent one (so it knows the id before any
/// reply), else a new random one.
enum OperationIDs {
    static let header = HTTPField.Name("Operation-Id")!

    static func make() -> String { UUID().uuidString.lowercased() }

    static func from(_ headers: HTTPFields) throws -> String {
        guard let given = headers[header] else { return make() }
        if let problem = OperationRecord.problem(withID: given) { throw DaemonError.badRequest(problem) }
        return given
    }
}
