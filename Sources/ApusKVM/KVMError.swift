import ApusCore
#if canImport(Glibc)
import Glibc
#endif

/// A failure talking to KVM. Ioctl failures carry the ioctl's name and errno, so a message says exactly which call the
/// kernel refused and why.
public enum KVMError: Error, Equatable, Sendable, CustomStringConvertible {
    case ioctl(name: String, errno: Int32)
    case open(path: String, errno: Int32)
    case unsupported(String)
    case mmap(errno: Int32)
    /// A caller asked for something that does not exist (a memory slot number, for instance).
    case badArgument(String)
    /// The real-time signal that kicks vCPUs out of KVM_RUN could not be installed or unblocked.
    case kickSignal(errno: Int32)
    /// A saved machine state lacks a KVM struct or has one of another size.
    case badSavedState(String)

    public var description: String {
        switch self {
        case .ioctl(let name, let code):
            return "\(name) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .open(let path, let code):
            return "cannot open \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .unsupported(let what):
            return "this host's KVM does not support \(what)"
        case .mmap(let code):
            return "cannot map the vCPU's kvm_run area: \(String(cString: strerror(code))) (errno \(code))"
        case .badArgument(let what):
            return what
        case .kickSignal(let code):
            return "cannot set up the vCPU kick signal: \(String(cString: strerror(code))) (errno \(code))"
        case .badSavedState(let what):
            return "the saved KVM state is unusable: \(what)"
        }
    }
}

/// Runs an ioctl wrapper, retrying when a signal interrupted it (EINTR policy: every KVM ioctl but KVM_RUN is
/// restartable), and turns failure into a `KVMError` naming the ioctl.
@inline(__always)
func checked(_ name: String, _ call: () -> Int32) throws -> Int32 {
    let result = SystemCall.retryingInterrupts(call)
    if result >= 0 { return result }
    throw KVMError.ioctl(name: name, errno: errno)
}
