import ApusVMM
import Foundation

/// A worker's boot files: the descriptors the daemon opened and checked, found by the path the definition names.
/// They are read through /proc/self/fd, which reopens the very file the daemon checked (and checks it again).
struct PassedBootFiles: BootFileSource {
    let files: [PassedBootFile]

    func open(_ path: String, role: String, limit: UInt64) throws -> OpenedBootFile {
        guard let passed = files.first(where: { $0.role == role && $0.path == path }) else {
            throw BootFile.Failure(description: "the daemon passed no descriptor for \(role) '\(path)'")
        }
        let procPath = "/proc/self/fd/\(passed.descriptor)"
        do {
            return try BootFile.open(procPath, role: role, limit: limit)
        } catch let failure as BootFile.Failure {
            throw BootFile.Failure(description: failure.description.replacingOccurrences(of: procPath, with: path))
        }
    }
}
