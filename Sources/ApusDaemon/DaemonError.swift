public import ApusAPI
import Foundation

/// What the daemon answers when an operation cannot be done; each maps to one HTTP status and a clear message.
public enum DaemonError: Error, Sendable, Equatable, CustomStringConvertible {
    case badRequest(String)
    case notFound(String)
    /// The operation is not allowed in the VM's current state.
    case conflict(operation: VMOperation, state: VMState, name: String)
    /// Another operation on the same VM is still running.
    case busy(name: String, operation: String)
    /// What was asked would break clones (writing, changing or removing their template's images); the message names
    /// the clones.
    case templateInUse(String)
    /// An action (clone) that needs the VM inactive.
    case notInactive(name: String, state: VMState, action: String, why: String)
    case nameTaken(String)
    /// Console input needs a running guest.
    case notRunning(name: String, state: VMState)
    /// The request is well formed but cannot be carried out (a missing kernel, an unusable backend, a boot error).
    case unprocessable(String)
    case insufficientStorage(String)
    /// Starting the VM would commit more guest memory than the daemon's budget.
    case insufficientMemory(name: String, requestedMiB: Int, committedMiB: Int, budgetMiB: Int)
    case payloadTooLarge(limit: Int)
    /// The request body did not arrive in full within the request timeout; the message says how much did.
    case requestTimeout(String)
    /// The body's Content-Type is not the one the route takes.
    case unsupportedMediaType(expected: String, got: String?)
    /// The path exists but not with this method; `allowed` goes into the Allow header.
    case methodNotAllowed(method: String, path: String, allowed: [String])
    case `internal`(String)
    /// Start-up only: another daemon holds the state directory or socket.
    case conflictingDaemon(String)

    public var status: Int {
        switch self {
        case .badRequest: return 400
        case .notFound: return 404
        case .conflict, .busy, .nameTaken, .notRunning, .templateInUse, .notInactive: return 409
        case .methodNotAllowed: return 405
        case .requestTimeout: return 408
        case .payloadTooLarge: return 413
        case .unsupportedMediaType: return 415
        case .unprocessable: return 422
        case .internal, .conflictingDaemon: return 500
        case .insufficientStorage, .insufficientMemory: return 507
        }
    }

    public var code: String {
        switch self {
        case .badRequest: return "bad-request"
        case .notFound: return "not-found"
        case .conflict, .notRunning, .notInactive: return "invalid-state"
        case .templateInUse: return "template-in-use"
        case .busy: return "busy"
        case .nameTaken: return "name-taken"
        case .requestTimeout: return "request-timeout"
        case .payloadTooLarge: return "payload-too-large"
        case .unsupportedMediaType: return "unsupported-media-type"
        case .methodNotAllowed: return "method-not-allowed"
        case .unprocessable: return "unprocessable"
        case .insufficientStorage: return "insufficient-storage"
        case .insufficientMemory: return "insufficient-memory"
        case .internal, .conflictingDaemon: return "internal"
        }
    }

    public var description: String {
        switch self {
        case .badRequest(let message), .notFound(let message), .unprocessable(let message), .requestTimeout(let message),
             .insufficientStorage(let message), .internal(let message), .conflictingDaemon(let message):
            return message
        case .conflict(let operation, let state, let name):
            let allowed = state.allowedOperations.map(\.rawValue).joined(separator: ", ")
            return "cannot \(operation.rawValue) VM '\(name)' while it is \(state.rawValue) (allowed: \(allowed))"
        case .busy(let name, let operation):
            return "VM '\(name)' is busy with '\(operation)'; try again when it finishes"
        case .templateInUse(let message): return message
        case .notInactive(let name, let state, let action, let why):
            return "cannot \(action) VM '\(name)' while it is \(state.rawValue): \(why)"
        case .nameTaken(let name): return "a VM named '\(name)' already exists"
        case .notRunning(let name, let state):
            return "VM '\(name)' is \(state.rawValue); console input needs it active"
        case .payloadTooLarge(let limit): return "the request body is larger than \(limit) bytes"
        case .unsupportedMediaType(let expected, let got):
            return "the body must be sent as Content-Type: \(expected), not \(got.map { "'\($0)'" } ?? "without a Content-Type")"
        case .methodNotAllowed(let method, let path, let allowed):
            return "\(path) does not take \(method) (allowed: \(allowed.joined(separator: ", ")))"
        case .insufficientMemory(let name, let requested, let committed, let budget):
            return "cannot run VM '\(name)': it needs \(requested) MiB, but \(committed) MiB of the \(budget) MiB memory "
                + "budget are committed to running VMs (\(max(budget - committed, 0)) MiB available); stop or suspend a VM, "
                + "or raise apusd --memory-budget"
        }
    }

    var body: APIErrorBody {
        var detail = APIErrorBody.Detail(status: status, code: code, message: description)
        switch self {
        case .conflict(_, let state, _), .notRunning(_, let state), .notInactive(_, let state, _, _):
            detail.state = state
            detail.allowedOperations = state.allowedOperations
        default:
            break
        }
        return APIErrorBody(error: detail)
    }
}
