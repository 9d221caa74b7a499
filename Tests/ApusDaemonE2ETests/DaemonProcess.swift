import ApusAPI
import ApusClient
import ApusTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `apusd` (the binary built next to the test bundle) on a temporary socket and state directory.
final class DaemonProcess {
    let socketPath: String
    let stateDirectory: String
    let logPath: String
    /// The daemon's image root (`--image-root`): boot files a test defines VMs with go here.
    let imageRoot: String
    private var process: Process?

    static func executable(_ name: String) -> URL { CommandRunner.executable(name) }

    /// A fresh directory for one test; sockets need short paths (108 bytes), so it lives under /tmp.
    static func scratchDirectory() throws -> String {
        let path = "/tmp/apus-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    init(directory: String) {
        socketPath = directory + "/apusd.sock"
        stateDirectory = directory + "/state"
        logPath = directory + "/apusd.log"
        imageRoot = directory + "/images"
    }

    /// The pid of the running daemon (0 when it is not running).
    var pid: Int32 { process?.processIdentifier ?? 0 }

    var client: ApusAPIClient { ApusAPIClient(socketPath: socketPath) }

    /// Starts apusd and waits until it answers; `extraArguments` go after the socket and state options.
    func start(_ extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.executableURL = Self.executable("apusd")
        try FileManager.default.createDirectory(atPath: imageRoot, withIntermediateDirectories: true)
        process.arguments = ["--socket", socketPath, "--state-dir", stateDirectory, "--image-root", imageRoot] + extraArguments
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? client.host()) != nil { return }
            guard process.isRunning else { throw Failure("apusd exited at start:\n\(log_())") }
            usleep(20_000)
        }
        throw Failure("apusd did not answer within 30 s:\n\(log_())")
    }

    /// SIGTERM (graceful: running VMs are suspended) and wait; returns the exit status.
    @discardableResult
    func terminate() -> Int32 {
        guard let process else { return -1 }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    /// SIGKILL: the daemon gets no chance to clean up.
    func kill9() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// The daemon's worker processes (children running `apusd worker`).
    var workers: Set<Int32> {
        let daemon = pid
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return Set(entries.compactMap(Int32.init).filter { candidate in
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // Fields after the command name: state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == daemon
        })
    }

    func log_() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Polls `condition` every 20 ms for up to `seconds`.
    static func wait(_ seconds: Double = 30, for what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(20_000)
        }
        throw Failure("timed out after \(seconds) s waiting for \(what)")
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The numbers the counter guest printed, in order (a trailing partial line is left out).
func counterNumbers(_ bytes: [UInt8]) -> [Int] {
    var text = String(decoding: bytes, as: UTF8.self)
    if let lastNewline = text.lastIndex(of: "\n") { text = String(text[...lastNewline]) } else { return [] }
    return text.split(separator: "\n").compactMap { Int($0) }
}
