import ApusAPI
import ApusClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Each running VM is a worker process of apusd: killing or crashing one leaves its VM inactive with the reason,
/// while the daemon and the other VMs carry on; a worker holds only the descriptors it needs, and is locked down.
@Suite(.serialized) struct WorkerIsolationE2ETests {
    static let crashWord = "apus-test-crash-now"

    /// Two counting VMs, each in its own worker; returns the worker of the second.
    private func twoCounters(_ daemon: DaemonProcess) throws -> Int32 {
        let client = daemon.client
        _ = try client.define(VMDefinition(name: "steady", boot: .guest("counter")))
        _ = try client.define(VMDefinition(name: "victim", boot: .guest("counter")))
        #expect(try client.perform(.start, on: "steady").state == .active)
        let before = daemon.workers
        #expect(before.count == 1, "one running VM, one worker: \(before)")
        #expect(try client.perform(.start, on: "victim").state == .active)
        let added = daemon.workers.subtracting(before)
        guard added.count == 1, let worker = added.first else { throw Failure("no single new worker: \(added)") }
        try DaemonProcess.wait(for: "both counters to print") {
            try counterNumbers(client.consoleBacklog("steady")).count >= 2
                && counterNumbers(client.consoleBacklog("victim")).count >= 2
        }
        return worker
    }

    /// The steady VM goes on counting and the daemon answers, after the victim's worker died.
    private func expectSteadyRuns(_ daemon: DaemonProcess) throws {
        let client = daemon.client
        let count = counterNumbers(try client.consoleBacklog("steady")).count
        try DaemonProcess.wait(for: "the other VM to keep counting") {
            try counterNumbers(client.consoleBacklog("steady")).count >= count + 2
        }
        #expect(try client.show("steady").state == .active)
        // The victim can run again in a new worker.
        #expect(try client.perform(.start, on: "victim").state == .active)
        #expect(daemon.workers.count == 2)
        #expect(daemon.terminate() == 0)
    }

    private func waitUntilInactive(_ daemon: DaemonProcess) throws -> VMInfo {
        var info: VMInfo?
        try DaemonProcess.wait(for: "the victim to become inactive") {
            info = try daemon.client.show("victim")
            return info?.state == .inactive
        }
        return info!
    }

    @Test func aKilledWorkerLeavesItsVMInactiveAndTheOthersRunning() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let worker = try twoCounters(daemon)
        #expect(kill(worker, SIGKILL) == 0)
        let info = try waitUntilInactive(daemon)
        #expect(info.reason == "worker exited: signal 9")
        // Reaped: no zombie is left behind.
        #expect(!daemon.workers.contains(worker))
        try expectSteadyRuns(daemon)
    }

    @Test func aCrashedWorkerLeavesItsVMInactiveAndTheOthersRunning() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start(environment: ["APUS_TEST_WORKER_CRASH_ON_INPUT": Self.crashWord])
        let worker = try twoCounters(daemon)
        // The crash happens while the request waits for its reply: the request fails, the daemon stays up.
        #expect(throws: ClientError.self) { _ = try daemon.client.sendConsole("victim", bytes: Array(Self.crashWord.utf8)) }
        let info = try waitUntilInactive(daemon)
        #expect(info.reason?.hasPrefix("worker exited: signal ") == true, "\(info.reason ?? "no reason")")
        #expect(!daemon.workers.contains(worker))
        #expect(daemon.log_().contains("exited without ending the run"))
        try expectSteadyRuns(daemon)
    }

    @Test func aWorkerHoldsOnlyItsOwnDescriptorsAndIsLockedDown() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let worker = try twoCounters(daemon)
        // Standard input is /dev/null; standard output and error are the daemon's (its log): the rest were passed.
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/fd")
            .filter { (Int32($0) ?? 0) > 2 }
        let targets = descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(worker)/fd/\($0)") }
        print("worker \(worker) holds: \(targets.sorted())")
        // One socket (the channel to the daemon): not the API's listening socket, not the other worker's channel.
        #expect(targets.filter { $0.hasPrefix("socket:") }.count == 1)
        #expect(!targets.contains { $0.hasPrefix(directory) }, "nothing of the daemon's state, socket or locks")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(worker)/fd/3").hasPrefix("socket:"))
        // The runtime's event loop keeps its epoll descriptor (closing it crashed workers at random).
        #expect(targets.contains("anon_inode:[eventpoll]"), "libdispatch's epoll descriptor is still open")
        let status = try String(contentsOfFile: "/proc/\(worker)/status", encoding: .utf8)
        #expect(status.contains("NoNewPrivs:\t1"))
        #expect(status.contains("Seccomp:\t2"), "a seccomp filter is installed")
        let limits = try String(contentsOfFile: "/proc/\(worker)/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }
        #expect(core?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first == "0")
        #expect(daemon.terminate() == 0)
    }

    /// A clone's disk reaches its worker as descriptors the daemon opened under the disk policy: the overlay
    /// read-write, the template's image (its backing file) read-only; the worker opens neither by path.
    @Test func aWorkerGetsItsDiskChainAsDescriptors() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let client = daemon.client
        let base = daemon.imageRoot + "/base.raw"
        try Data("TEMPLATE".utf8).write(to: URL(fileURLWithPath: base))
        #expect(truncate(base, 1 << 20) == 0)
        _ = try client.define(VMDefinition(name: "tpl", boot: .guest("counter"), disks: [DiskSpec(path: base)]))
        let clone = try client.clone("tpl", as: "c1")
        let overlay = clone.definition.disks[0].path
        #expect(try client.perform(.start, on: "c1").state == .active)
        guard let worker = daemon.workers.first, daemon.workers.count == 1 else {
            throw Failure("no single worker: \(daemon.workers)")
        }
        try DaemonProcess.wait(for: "the clone to count") { try counterNumbers(client.consoleBacklog("c1")).count >= 2 }
        var modes: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/fd") where (Int32(name) ?? 0) > 2 {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(worker)/fd/\(name)"),
                  let info = try? String(contentsOfFile: "/proc/\(worker)/fdinfo/\(name)", encoding: .utf8),
                  let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") })
                    .flatMap({ Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) }) else { continue }
            modes[target] = max(modes[target] ?? 0, flags & Int(O_ACCMODE))
        }
        print("worker \(worker) holds: \(modes)")
        let realBase = URL(fileURLWithPath: base).resolvingSymlinksInPath().path
        let realOverlay = URL(fileURLWithPath: overlay).resolvingSymlinksInPath().path
        #expect(modes[realOverlay] == Int(O_RDWR), "the overlay, writable")
        #expect(modes[realBase] == Int(O_RDONLY), "the template's image, read-only")
        #expect(try client.perform(.stop, on: "c1").state == .inactive)
        #expect(daemon.terminate() == 0)
    }

    /// The worker's lock-down, applied to a process that then tries what a compromised worker would.
    @Test func theSandboxRefusesWhatAWorkerMustNotDo() throws {
        let process = Process()
        process.executableURL = DaemonProcess.executable("apusd")
        process.arguments = ["worker", "--sandbox-self-test"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print(text)
        #expect(process.terminationStatus == 0)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for call in ["socket(AF_INET)", "socket(AF_UNIX)", "execve(/bin/true)", "kill(parent, 0)", "setpriority(parent)"] {
            #expect(lines.contains("\(call): refused (Operation not permitted)"), "\(call)")
        }
        #expect(lines.contains("open(/dev/null): allowed"))
        #expect(lines.contains("getpid(): allowed"))
        #expect(lines.contains("Seccomp: 2"))
        #expect(lines.contains("NoNewPrivs: 1"))
    }
}
