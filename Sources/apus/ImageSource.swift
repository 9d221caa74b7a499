import ApusGuests
import ApusVMM
import Foundation

/// Turns the run command's image argument into a boot source.
enum ImageSource {
    static func readFile(_ path: String, role: String, limit: UInt64) throws -> [UInt8] {
        try BootFile.read(path, role: role, limit: limit)
    }

    /// A path to an image file, or else the name of a built-in guest.
    /// `commandLine` and `modules` (FILE or FILE,STRING) are for a Multiboot image and refused for any other.
    static func guestImage(_ argument: String?, commandLine: String?, modules: [String], limit: UInt64) throws -> BootSource {
        guard let argument else {
            let demo = BuiltInGuests.demo
            return .guestImage(name: demo.name, bytes: demo.image)
        }
        if !FileManager.default.fileExists(atPath: argument), let guest = BuiltInGuests.named(argument) {
            return try BootSource.image(name: guest.name, bytes: guest.image, commandLine: commandLine,
                                        modules: try readModules(modules, limit: limit))
        }
        if !FileManager.default.fileExists(atPath: argument) && !argument.contains("/") {
            let names = BuiltInGuests.all.map(\.name).joined(separator: ", ")
            throw BootFile.Failure(description: "no file or built-in guest named '\(argument)' (built-in guests: \(names))")
        }
        let bytes = try readFile(argument, role: "image", limit: limit)
        let loaded = try readModules(modules, limit: limit - min(limit, UInt64(bytes.count)))
        return try BootSource.image(name: argument, bytes: bytes, commandLine: commandLine, modules: loaded)
    }

    /// FILE or FILE,STRING arguments, read in order; together they must fit in `limit` bytes.
    private static func readModules(_ modules: [String], limit: UInt64) throws -> [BootModule] {
        var loaded: [BootModule] = []
        var total: UInt64 = 0
        for module in modules {
            let (path, string) = module.firstIndex(of: ",").map {
                (String(module[..<$0]), String(module[module.index(after: $0)...]))
            } ?? (module, module)
            let contents = try readFile(path, role: "module", limit: limit)
            total += UInt64(contents.count)
            guard total <= limit else {
                throw BootFile.Failure(description: "the modules need \(total) bytes, more than the guest memory left "
                                       + "for them (\(limit) bytes); give the machine more --memory")
            }
            loaded.append(BootModule(bytes: contents, string: string))
        }
        return loaded
    }
}
