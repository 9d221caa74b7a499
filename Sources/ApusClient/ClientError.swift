public import ApusAPI

/// Why a request to apusd failed, in one sentence a user can act on.
public enum ClientError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Nothing listens at the socket path.
    case daemonNotRunning(socket: String)
    case permissionDenied(socket: String)
    case connectionFailed(socket: String, reason: String)
    /// The daemon closed the connection or sent something that is not HTTP.
    case protocolError(String)
    /// The daemon answered with an error.
    case api(APIErrorBody.Detail)

    public var description: String {
        switch self {
        case .daemonNotRunning(let socket):
            return "apusd is not running (nothing listens on \(socket)); start it with `apusd --socket \(socket)` or pass --socket"
        case .permissionDenied(let socket):
            return "permission denied on \(socket): join the group that owns it (usually 'apus') or run as its owner"
        case .connectionFailed(let socket, let reason): return "cannot connect to apusd at \(socket): \(reason)"
        case .protocolError(let message): return "unexpected answer from apusd: \(message)"
        case .api(let detail): return detail.message
        }
    }
}
