import ApusVMM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The directories apusd may open boot files from (`--image-root`). A client names a file by path, but the daemon
/// opens it only if the path, resolved once (every symbolic link followed), lies inside a root; the resolved path is
/// then opened without following links and without blocking, and checked on the descriptor (a regular file no
/// larger than guest memory). So a client cannot make apusd read /etc/shadow, another VM's saved memory, a device,
/// a FIFO or /proc through a boot definition.
struct ImageRoots: Sendable {
    /// Canonical (resolved) root directories.
    let directories: [String]

    /// Resolves each root; the default root (`created`) is made 0700 if missing. A root must be a directory and must
    /// not hold the state directory (VM records and saved memory are not images).
    init(_ roots: [String], creating created: String?, stateDirectory: String) throws {
        if let created, !FileManager.default.fileExists(atPath: created) {
            do {
                try FileManager.default.createDirectory(atPath: created, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw DaemonError.internal("cannot create image root \(created): \(error.localizedDescription)")
            }
        }
        let state = Self.resolve(stateDirectory) ?? stateDirectory
        directories = try roots.map { root in
            guard let resolved = Self.resolve(root) else {
                throw DaemonError.badRequest("image root \(root): \(String(cString: strerror(errno)))")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw DaemonError.badRequest("image root \(root) is not a directory")
            }
            guard !Self.path(state, isInside: resolved) else {
                throw DaemonError.badRequest(
                    "image root \(root) holds the state directory \(stateDirectory); VM records and saved memory must not be readable as images")
            }
            return resolved
        }
    }

    /// No roots at all: for a worker, which opens nothing itself (the daemon passes it the files).
    static let none = ImageRoots(resolved: [])

    private init(resolved: [String]) { directories = resolved }

    /// Opens a boot file under the policy; the failure names the rule broken and how to comply.
    func open(_ path: String, role: String, limit: UInt64) throws -> OpenedBootFile {
        guard path.hasPrefix("/") else {
            throw BootFile.Failure(description: "the \(role) path '\(path)' must be absolute (the daemon has its own working directory)")
        }
        guard let resolved = Self.resolve(path) else {
            throw BootFile.Failure(description: "cannot resolve \(role) '\(path)': \(String(cString: strerror(errno)))")
        }
        guard directories.contains(where: { Self.path(resolved, isInside: $0) && resolved != $0 }) else {
            let target = resolved == path ? "" : " (it resolves to '\(resolved)')"
            throw BootFile.Failure(description:
                "\(role) '\(path)' is refused: it is outside the image roots\(target); apusd opens boot files only "
                + "inside \(directories.joined(separator: ", ")) (apusd --image-root DIR)")
        }
        let file = try BootFile.open(resolved, role: role, limit: limit, followingSymlinks: false)
        // A directory on the way may have been swapped for a link between resolving and opening: ask the kernel
        // what was actually opened.
        if let opened = Self.openedPath(file.descriptor), !directories.contains(where: { Self.path(opened, isInside: $0) }) {
            throw BootFile.Failure(description:
                "\(role) '\(path)' is refused: it moved outside the image roots while it was being opened (now '\(opened)')")
        }
        return file
    }

    static func path(_ path: String, isInside directory: String) -> Bool {
        path == directory || path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
    }

    /// realpath(3): every link followed, no "." or ".."; nil with errno set when a component is missing.
    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// What the kernel says an open descriptor refers to (nil where /proc is not mounted).
    private static func openedPath(_ descriptor: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
