import ApusTesting
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// schemathesis (PyPI; .ci/run installs it) against a live apusd with every check enabled: generated requests from
/// docs/openapi.yaml, each response checked for status codes, content types, headers and bodies the document
/// promises, no 5xx, 405 with Allow for other methods, rejected invalid data and accepted valid data. The endless
/// streams (console follow, events) are left out here and tested by bounded tests. schemathesis speaks TCP only,
/// so socat forwards 127.0.0.1 to the daemon's Unix socket.
@Suite struct SchemathesisE2ETests {
    static let minimumCases = 5_000

    private static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A TCP port nobody listens on right now (the kernel picks it).
    private static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw Failure("cannot find a free port: \(String(cString: strerror(errno)))") }
        return UInt16(bigEndian: address.sin_port)
    }

    @Test func generatedRequestsPassEveryCheck() throws {
        guard let schemathesis = Self.executable("schemathesis") else {
            print("schemathesis: skipping: the schemathesis command is not on PATH (.ci/run installs it: pip install schemathesis)")
            return
        }
        guard let socat = Self.executable("socat") else {
            print("schemathesis: skipping: socat is not installed (.ci/run installs it) to forward TCP to the Unix socket")
            return
        }
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        // Few VMs can run at once, so generated starts cannot load the machine.
        try daemon.start(["--memory-budget", "256"])

        let port = try Self.freePort()
        let forwarder = Process()
        forwarder.executableURL = URL(fileURLWithPath: socat)
        forwarder.arguments = ["TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork", "UNIX-CONNECT:\(daemon.socketPath)"]
        forwarder.standardError = FileHandle.nullDevice
        try forwarder.run()
        defer {
            // SIGKILL: socat inherits the test thread's signal mask, in which SIGTERM is blocked.
            kill(forwarder.processIdentifier, SIGKILL)
            forwarder.waitUntilExit()
        }

        let root = OpenAPIDocument.url.deletingLastPathComponent().deletingLastPathComponent()
        let run = Process()
        run.executableURL = URL(fileURLWithPath: schemathesis)
        // Its working directory is the scratch directory: Hypothesis keeps its example database there, not in the
        // repository, so every run starts from the same seed alone.
        run.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["SCHEMATHESIS_HOOKS"] = root.appendingPathComponent("Tests/schemathesis_hooks.py").path
        run.environment = environment
        run.arguments = [
            "--config-file", root.appendingPathComponent("Tests/schemathesis.toml").path,
            "run", OpenAPIDocument.url.path,
            "--url", "http://127.0.0.1:\(port)",
            "--checks", "all",
            "--exclude-operation-id", "streamEvents",
            "--exclude-operation-id", "readConsole",
            "--max-examples", "300",
            "--seed", "13",
            "--wait-for-schema", "5",
            "--request-timeout", "30",
            "--no-color",
        ]
        let output = Pipe()
        run.standardOutput = output
        run.standardError = output
        try run.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()

        let cases = Self.caseCount(in: text)
        print("schemathesis: \(cases) test cases generated, exit status \(run.terminationStatus); \(text.split(separator: "\n").last(where: { $0.contains(" in ") && $0.contains("=") }) ?? "")")
        #expect(run.terminationStatus == 0, "schemathesis found failures:\n\(text.suffix(20_000))")
        #expect(cases >= Self.minimumCases, "only \(cases) cases ran:\n\(text.suffix(4_000))")
        #expect(kill(daemon.pid, 0) == 0, "apusd died under schemathesis:\n\(daemon.log_().suffix(4_000))")
        #expect(daemon.terminate() == 0)
    }

    /// The case count from schemathesis's summary ("Test cases:" then "  5755 generated, 5755 passed").
    static func caseCount(in output: String) -> Int {
        guard let summary = output.range(of: "Test cases:") else { return 0 }
        let line = output[summary.upperBound...].split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return line.flatMap { Int($0.trimmingCharacters(in: .whitespaces).prefix { $0.isNumber }) } ?? 0
    }
}
