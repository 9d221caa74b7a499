/// Why a disk image could not be opened, created or accessed. Messages name the file and the rule it broke.
public enum DiskError: Error, Equatable, Sendable, CustomStringConvertible {
    case system(path: String, operation: String, errno: Int32)
    case notAnImage(path: String, reason: String)
    case unsupported(path: String, feature: String)
    case corrupt(path: String, reason: String)
    case backingChain(path: String, reason: String)
    case readOnly(path: String)
    case outOfRange(offset: UInt64, length: UInt64, size: UInt64)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .system(let path, let operation, let errno):
            return "\(path): \(operation) failed: \(String(cString: strerrorText(errno)))"
        case .notAnImage(let path, let reason): return "\(path) is not a disk image Apus can read: \(reason)"
        case .unsupported(let path, let feature): return "\(path) uses \(feature), which Apus does not support"
        case .corrupt(let path, let reason): return "\(path) is corrupt: \(reason)"
        case .backingChain(let path, let reason): return "\(path): backing chain refused: \(reason)"
        case .readOnly(let path): return "\(path) is open read-only"
        case .outOfRange(let offset, let length, let size):
            return "access of \(length) bytes at \(offset) is beyond the disk's \(size) bytes"
        case .invalidArgument(let reason): return reason
        }
    }
}

#if canImport(Glibc)
import Glibc
private func strerrorText(_ code: Int32) -> UnsafeMutablePointer<CChar> { strerror(code) }
#endif
