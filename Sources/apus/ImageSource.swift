import ApusGuests
import ApusVMM
import Foundation

/// Reads the files a run needs, refusing anything that cannot fit in guest memory before reading it whole.
enum ImageSource {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func readFile(_ path: String, role: String, limit: UInt64) throws -> [UInt8] {
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

    /// A path to an image file, or else the name of a built-in guest.
    static func guestImage(_ argument: String?, limit: UInt64) throws -> BootSource {
        guard let argument else {
            let demo = BuiltInGuests.demo
            return .guestImage(name: demo.name, bytes: demo.image)
        }
        if !FileManager.default.fileExists(atPath: argument), let guest = BuiltInGuests.named(argument) {
            return .guestImage(name: guest.name, bytes: guest.image)
        }
        if !FileManager.default.fileExists(atPath: argument) && !argument.contains("/") {
            let names = BuiltInGuests.all.map(\.name).joined(separator: ", ")
            throw Failure(description: "no file or built-in guest named '\(argument)' (built-in guests: \(names))")
        }
        return .guestImage(name: argument, bytes: try readFile(argument, role: "image", limit: limit))
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
