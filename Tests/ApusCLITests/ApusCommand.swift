import Foundation

/// Runs the `apus` executable built next to the test bundle and collects its exit status and output.
struct ApusCommand {
    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    static var executable: URL {
        // The test runner is the package's .xctest executable, in the same build folder as `apus`.
        let directories = [Bundle.main.executableURL?.deletingLastPathComponent(), Bundle.main.bundleURL,
                           Bundle.main.bundleURL.deletingLastPathComponent()].compactMap { $0 }
        let candidates = directories.map { $0.appendingPathComponent("apus") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
                      standardError: String(decoding: errData, as: UTF8.self))
    }
}
