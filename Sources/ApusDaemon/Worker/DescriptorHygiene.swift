import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A worker keeps only the descriptors it was meant to get: whatever else leaked through the spawn is closed.
enum DescriptorHygiene {
    static func closeAll(except kept: [Int32]) {
        for descriptor in openDescriptors() where !kept.contains(descriptor) {
            close(descriptor)
        }
    }

    /// Read before closing anything: closing while iterating /proc/self/fd would close the iterator's own one.
    static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap(Int32.init).filter { fcntl($0, F_GETFD) >= 0 }
    }
}
