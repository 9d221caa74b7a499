import ApusAPI
import ApusClient
import ApusTesting
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Running out of descriptors (issue 13, Deliver 3): apusd's own descriptor limit is lowered under it with
/// prlimit(1) so that its real accept fails with EMFILE. It must log the back-off once for the episode, retry at the
/// backoff's pace instead of spinning in accept, answer a new client once descriptors are free, and leave its VM
/// running.
@Suite struct DescriptorExhaustionE2ETests {
    static let prlimitTool = "/usr/bin/prlimit"
    static let starvedLine = "cannot accept a client connection"
    static let recoveredLine = "accepting client connections again"

    @Test func runningOutOfDescriptorsSlowsAcceptsAndNeverCrashes() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.prlimitTool) else {
            print("descriptor exhaustion test: skipping: \(Self.prlimitTool) (util-linux) is not installed")
            return
        }
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        _ = try daemon.client.define(VMDefinition(name: "keeper", boot: .guest("counter")))
        _ = try daemon.client.perform(.start, on: "keeper")
        #expect(try Self.acceptFailures(daemon) == 0)

        // Room for a few connections more than the daemon holds now; the clients below need more than that.
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd").count
        let limit = open + 8
        let lowered = try CommandRunner.runTool(Self.prlimitTool, ["--pid", "\(daemon.pid)", "--nofile=\(limit):"])
        try #require(lowered.status == 0, "prlimit failed: \(lowered.output)")
        var held: [RawSocket] = []
        for _ in 0..<40 {
            if let socket = RawSocket(path: daemon.socketPath) { held.append(socket) }
        }
        #expect(held.count == 40, "the listen backlog (256) holds every client")
        try DaemonProcess.wait(60, for: "apusd to run out of descriptors") { daemon.log_().contains(Self.starvedLine) }

        // Starved for a few seconds with clients waiting in the backlog: a daemon spinning in accept would burn a
        // core and fail thousands of accepts; with the backoff it retries about once a second.
        let ticksBefore = try Self.cpuTicks(daemon.pid)
        let starvedAt = Date()
        sleep(4)
        let ticks = try Self.cpuTicks(daemon.pid) - ticksBefore
        let starvedSeconds = Date().timeIntervalSince(starvedAt)
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpuShare = Double(ticks) / ticksPerSecond / starvedSeconds
        #expect(kill(daemon.pid, 0) == 0, "apusd died out of descriptors:\n\(daemon.log_())")

        // Descriptors free again: the held clients go away and a new one is answered.
        held.removeAll()
        let client = try #require(RawSocket(path: daemon.socketPath))
        let asked = Date()
        #expect(client.send("GET /v1/vms/keeper HTTP/1.1\r\nHost: apus\r\nConnection: close\r\n\r\n"))
        let answer = client.receiveAll(within: 30)
        let answeredIn = Date().timeIntervalSince(asked)
        let text = String(decoding: answer.bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"), "no answer within 30 s once descriptors were free: \(text.prefix(200))")
        #expect(text.contains("\"state\":\"active\""), "the running VM carried on")

        let failures = try Self.acceptFailures(daemon)
        let log = daemon.log_()
        print("DescriptorExhaustionE2ETests: limit \(limit) descriptors; while starved for "
              + String(format: "%.1f s the daemon used %.1f%% of a core", starvedSeconds, cpuShare * 100)
              + " and \(failures) accepts failed in all; a new client was answered "
              + String(format: "%.3f s", answeredIn) + " after the clients left")
        #expect(cpuShare < 0.5, "apusd spins while out of descriptors: \(ticks) ticks in \(starvedSeconds) s")
        // The backoff retries once a second; a spinning accept loop fails thousands of times a second.
        #expect(failures >= 1)
        #expect(Double(failures) <= 5 + 3 * (starvedSeconds + answeredIn), "accept is retried too often: \(failures)")
        #expect(Self.lines(in: log, containing: Self.starvedLine) == 1,
                "the back-off is logged once per episode, not per failed accept:\n\(log)")
        try DaemonProcess.wait(30, for: "the end of the episode in the log") { daemon.log_().contains(Self.recoveredLine) }
        #expect(Self.lines(in: daemon.log_(), containing: Self.recoveredLine) == 1)

        // The VM was never touched: still active, still counting.
        let counted = counterNumbers(try daemon.client.consoleBacklog("keeper")).last ?? 0
        try DaemonProcess.wait(30, for: "the counter guest to keep counting") {
            (counterNumbers(try daemon.client.consoleBacklog("keeper")).last ?? 0) > counted
        }
        #expect(try daemon.client.show("keeper").state == .active)
        #expect(daemon.terminate() == 0)
    }

    /// utime + stime of a process, in clock ticks.
    static func cpuTicks(_ pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { throw Failure("unreadable /proc/\(pid)/stat") }
        // After the command name: state is field 3, utime field 14 and stime field 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else {
            throw Failure("unreadable /proc/\(pid)/stat: \(stat)")
        }
        return user + system
    }

    /// apus_api_accept_failures_total from GET /metrics.
    static func acceptFailures(_ daemon: DaemonProcess) throws -> Int {
        let response = try daemon.client.http.send("GET", "/metrics")
        let text = String(decoding: response.body, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("apus_api_accept_failures_total ") }),
              let value = line.split(separator: " ").last.flatMap({ Int($0) }) else {
            throw Failure("no apus_api_accept_failures_total in the metrics:\n\(text)")
        }
        return value
    }

    static func lines(in log: String, containing text: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(text) }.count
    }
}
