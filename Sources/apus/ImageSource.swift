import ApusGuests
import ApusVMM
import Foundation

/// Turns the run command's image argument into a boot source.
enum ImageSource {
    static func readFile(_ path: String, role: String, limit: UInt64) throws -> [UInt8] {
        try BootFile.read(path, role: role, limit: limit)
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
            throw BootFile.Failure(description: "no file or built-in guest named '\(argument)' (built-in guests: \(names))")
        }
        return .guestImage(name: argument, bytes: try readFile(argument, role: "image", limit: limit))
    }
}
