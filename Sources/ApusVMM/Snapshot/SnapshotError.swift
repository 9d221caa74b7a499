/// Why a snapshot could not be written or read; one sentence each.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    case io(path: String, operation: String, errno: Int32)
    case corrupt(String)
    case unsupportedVersion(Int)

    public var description: String {
        switch self {
        case .io(let path, let operation, let errno):
            return "cannot \(operation) \(path): \(String(cString: strerror(errno)))"
        case .corrupt(let message): return "the saved machine state is unusable: \(message)"
        case .unsupportedVersion(let version):
            return "the saved machine state has format version \(version); this Apus reads only version \(MachineSnapshot.formatVersion)"
                + " (boot the guest afresh, or resume it with the Apus that suspended it)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
