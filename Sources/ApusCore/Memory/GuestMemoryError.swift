/// Why a guest-memory access or layout was refused.
public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    case outOfBounds(address: GuestAddress, length: Int)
    case overlappingRegions(GuestRange, GuestRange)
    case invalidRegion(GuestRange, reason: String)
    case allocationFailed(size: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case .outOfBounds(let address, let length):
            return "guest memory access of \(length) bytes at \(address) is outside guest RAM"
        case .overlappingRegions(let a, let b):
            return "guest memory regions \(a) and \(b) overlap"
        case .invalidRegion(let range, let reason):
            return "invalid guest memory region \(range): \(reason)"
        case .allocationFailed(let size, let errno):
            return "cannot map \(size) bytes of guest memory (errno \(errno))"
        }
    }
}
