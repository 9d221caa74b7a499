public import ApusCore

/// How a machine's run ended.
public enum MachineOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The guest wrote its result code to the debug-exit port.
    case exited(code: UInt32)
    /// Every vCPU halted with nothing left to wake it: a clean end for our small guests.
    case halted
    /// A vCPU triple-faulted (KVM_EXIT_SHUTDOWN): the guest crashed beyond its own exception handlers.
    case tripleFault(vcpu: Int)
    /// The guest asked the platform to power off, reset or report a crash.
    case systemEvent(SystemEvent)
    /// The host stopped the machine.
    case stopped
    /// The run could not continue; the message names the exit or the access that failed.
    case failed(String)

    /// Whether the guest ended as it meant to (a result code of 0, or a clean halt or power-off).
    public var isSuccess: Bool {
        switch self {
        case .exited(let code): return code == 0
        case .halted, .systemEvent(.shutdown): return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "guest exited with result code \(code)"
        case .halted: return "guest halted"
        case .tripleFault(let vcpu): return "vCPU \(vcpu) triple-faulted (shutdown exit): the guest crashed"
        case .systemEvent(.shutdown): return "guest powered off"
        case .systemEvent(let event): return "guest requested \(event)"
        case .stopped: return "stopped by the host"
        case .failed(let message): return message
        }
    }
}
