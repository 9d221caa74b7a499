/// Errors the VMM reports to its user; each description is one clear sentence.
public enum VMMError: Error, Equatable, Sendable, CustomStringConvertible {
    case backendUnavailable(backend: String, reason: String)
    case invalidConfiguration(String)
    case bootFailed(String)
    case invalidState(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .backendUnavailable(let backend, let reason): return "the \(backend) backend cannot run here: \(reason)"
        case .invalidConfiguration(let message): return "invalid machine configuration: \(message)"
        case .bootFailed(let message): return "cannot boot: \(message)"
        case .invalidState(let message), .unsupported(let message): return message
        }
    }
}
