import ApusAPI
import ApusClient
import Foundation
import Testing

/// systemd/apusd.service and apusd.socket pass `systemd-analyze verify` (with ExecStart pointing at the apusd just
/// built), with no warnings; and apusd works when socket-activated.
@Suite struct SystemdUnitTests {
    static let unitDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("systemd")

    private func tool(_ name: String) -> String? {
        ["/usr/bin/", "/bin/", "/usr/local/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private func verify(in directory: String, executable: String) throws -> (status: Int32, errors: String) {
        for unit in ["apusd.service", "apusd.socket"] {
            let text = try String(contentsOf: Self.unitDirectory.appendingPathComponent(unit), encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin/apusd", with: executable)
                .write(toFile: directory + "/" + unit, atomically: true, encoding: .utf8)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool("systemd-analyze") ?? "/usr/bin/systemd-analyze")
        process.arguments = ["verify", directory + "/apusd.socket", directory + "/apusd.service"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func unitsVerifyCleanly() throws {
        guard tool("systemd-analyze") != nil else {
            print("systemd unit test: skipping: systemd-analyze is not installed (.ci/run installs the systemd package)")
            return
        }
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = try verify(in: directory, executable: DaemonProcess.executable("apusd").path)
        #expect(good.status == 0)
        #expect(good.errors.isEmpty, "systemd-analyze complained:\n\(good.errors)")
        // The check is real: a unit whose binary is missing fails it.
        let bad = try verify(in: directory, executable: directory + "/missing/apusd")
        #expect(bad.status != 0)
        #expect(bad.errors.contains("is not executable"))
    }

    @Test func socketActivatedDaemonServesTheAPI() throws {
        guard let activate = tool("systemd-socket-activate") else {
            print("socket activation test: skipping: systemd-socket-activate is not installed")
            return
        }
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/activated.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: activate)
        process.arguments = ["-l", socket, DaemonProcess.executable("apusd").path,
                             "--socket", socket, "--state-dir", directory + "/state"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        try DaemonProcess.wait(for: "the activation socket") { FileManager.default.fileExists(atPath: socket) }
        // The first connection starts apusd, which answers on the descriptor it inherited.
        let client = ApusAPIClient(socketPath: socket)
        var host: HostInfo?
        try DaemonProcess.wait(for: "the activated daemon") { host = try? client.host(); return host != nil }
        #expect(host?.pid == process.processIdentifier, "systemd-socket-activate execs apusd in place")
        _ = try client.define(VMDefinition(name: "activated", boot: .guest("hello")))
        #expect(try client.list().map(\.definition.name) == ["activated"])
    }
}
