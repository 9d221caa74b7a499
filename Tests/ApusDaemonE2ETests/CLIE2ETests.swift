import ApusAPI
import Foundation
import ApusTesting
import Testing

/// `apus vm ...` as a user types it, against a real apusd.
@Suite struct CLIE2ETests {
    private func apus(_ arguments: [String]) throws -> CommandRunner.Result {
        try CommandRunner.run("apus", arguments)
    }

    @Test func noDaemonIsOneLineAndStatusOne() throws {
        let result = try apus(["vm", "list", "--socket", "/tmp/apus-no-such-daemon.sock"])
        #expect(result.status == 1)
        #expect(result.standardError == "apus: apusd is not running (nothing listens on /tmp/apus-no-such-daemon.sock); start it with `apusd --socket /tmp/apus-no-such-daemon.sock` or pass --socket\n")
    }

    @Test func defineStartConsoleEventsAndErrors() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let socket = ["--socket", daemon.socketPath]

        let defined = try apus(["vm", "define", "demo", "--guest", "hello", "--json"] + socket)
        #expect(defined.status == 0, "\(defined.standardError)")
        let info = try JSONDecoder.iso8601.decode(VMInfo.self, from: Data(defined.standardOutput.utf8))
        #expect(info.definition.name == "demo")
        #expect(info.state == .inactive)

        #expect(try apus(["vm", "start", "demo"] + socket).standardOutput == "demo: active\n")
        try DaemonProcess.wait(for: "the guest to power off") { try daemon.client.show("demo").state == .inactive }
        let console = try apus(["vm", "console", "demo", "--no-follow"] + socket)
        #expect(console.standardOutput.contains("Hello from an Apus guest!"))

        let list = try apus(["vm", "list"] + socket)
        #expect(list.standardOutput.hasPrefix("NAME"))
        #expect(list.standardOutput.contains("demo") && list.standardOutput.contains("guest exited with result code 0"))

        let events = try apus(["vm", "events", "--since", "0", "--count", "3", "--json"] + socket)
        let kinds = try events.standardOutput.split(separator: "\n").map {
            try JSONDecoder.iso8601.decode(LifecycleEvent.self, from: Data($0.utf8)).kind
        }
        #expect(kinds == [.defined, .started, .poweredOff])

        let conflict = try apus(["vm", "resume", "demo"] + socket)
        #expect(conflict.status == 1)
        #expect(conflict.standardError == "apus: cannot resume VM 'demo' while it is inactive (allowed: start, update, undefine)\n")
        let missing = try apus(["vm", "show", "ghost"] + socket)
        #expect(missing.status == 1)
        #expect(missing.standardError == "apus: no VM with id or name 'ghost'\n")
        let usage = try apus(["vm", "define", "x", "--guest", "hello", "--kernel", "/k"] + socket)
        #expect(usage.status != 0)
        #expect(usage.standardError.contains("exactly one of --guest, --image or --kernel"))

        #expect(try apus(["vm", "undefine", "demo"] + socket).status == 0)
        #expect(daemon.terminate() == 0)
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
