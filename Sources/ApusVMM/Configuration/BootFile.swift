import Foundation

/// Reads the files a boot needs (image, kernel, initrd), refusing anything that cannot fit in guest memory before
/// reading it whole; every failure is one sentence naming the file and its role.
public enum BootFile {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public static func read(_ path: String, role: String, limit: UInt64) throws -> [UInt8] {
        try check(path, role: role, limit: limit)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Failure(description: "cannot read \(role) '\(path)': permission denied")
        }
        defer { try? handle.close() }
        do {
            let data = try handle.readToEnd() ?? Data()
            guard !data.isEmpty else { throw Failure(description: "\(role) '\(path)' is empty") }
            return [UInt8](data)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "cannot read \(role) '\(path)': \(reason(error))")
        }
    }

    /// Checks that `path` is a readable regular file no larger than `limit`, without reading it.
    public static func check(_ path: String, role: String, limit: UInt64) throws {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw Failure(description: "cannot read \(role) '\(path)': \(reason(error))")
        }
        if let type = attributes[.type] as? FileAttributeType, type == .typeDirectory {
            throw Failure(description: "cannot read \(role) '\(path)': it is a directory")
        }
        if let size = attributes[.size] as? UInt64, size > limit {
            throw Failure(description: "\(role) '\(path)' is \(size >> 20) MiB, larger than guest memory (\(limit >> 20) MiB)")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw Failure(description: "cannot read \(role) '\(path)': permission denied")
        }
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileReadNoSuchFileError {
            return "No such file or directory"
        }
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileReadNoPermissionError {
            return "Permission denied"
        }
        return nsError.localizedDescription
    }
}
