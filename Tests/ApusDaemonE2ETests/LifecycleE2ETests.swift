import ApusAPI
import ApusClient
import Foundation
import Testing

/// A real apusd driven through every state, across a daemon restart, with the counting guest proving that a resumed
/// VM continues where it stopped instead of rebooting.
@Suite(.serialized) struct LifecycleE2ETests {
    @Test func everyStateAcrossADaemonRestart() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let client = daemon.client
        let host = try client.host()
        print("lifecycle test runs on the \(host.defaultBackend) backend")
        // A kernel goes to KVM only where KVM is usable and has VT-x or AMD-V under it.
        let kernelOnKVM = host.kvm.usable && host.kvm.hardwareAssisted == true
        #expect(host.defaultKernelBackend == (kernelOnKVM ? "kvm" : "soft"))

        let defined = try client.define(VMDefinition(name: "counter", boot: .guest("counter")))
        #expect(defined.state == .inactive)
        #expect(try client.perform(.start, on: "counter").state == .active)
        try DaemonProcess.wait(for: "the counter to print") { try counterNumbers(client.consoleBacklog("counter")).count >= 3 }

        // Paused: nothing more is printed.
        #expect(try client.perform(.pause, on: "counter").state == .paused)
        let atPause = try client.consoleBacklog("counter")
        usleep(300_000)
        #expect(try client.consoleBacklog("counter") == atPause)

        #expect(try client.perform(.resume, on: "counter").state == .active)
        let countAtResume = counterNumbers(atPause).count
        try DaemonProcess.wait(for: "output after resume") {
            try counterNumbers(client.consoleBacklog("counter")).count >= countAtResume + 3
        }

        let suspended = try client.perform(.suspend, on: "counter")
        #expect(suspended.state == .suspended)
        #expect(suspended.allowedOperations == [.resume, .stop])
        let beforeRestart = try client.consoleBacklog("counter")

        // A conflict names the state and what is allowed.
        #expect(throws: ClientError.self) { try client.perform(.pause, on: "counter") }
        do {
            _ = try client.perform(.pause, on: "counter")
        } catch ClientError.api(let detail) {
            #expect(detail.status == 409)
            #expect(detail.state == .suspended)
            #expect(detail.allowedOperations == [.resume, .stop])
        }

        #expect(daemon.terminate() == 0)
        try daemon.start()
        let listed = try client.list()
        #expect(listed.map(\.definition.name) == ["counter"])
        #expect(listed.first?.state == .suspended)

        #expect(try client.perform(.resume, on: "counter").state == .active)
        try DaemonProcess.wait(for: "output after the restart") {
            try counterNumbers(client.consoleBacklog("counter")).count >= 3
        }
        #expect(try client.perform(.pause, on: "counter").state == .paused)
        let numbers = counterNumbers(beforeRestart + (try client.consoleBacklog("counter")))
        let gaps = zip(numbers, numbers.dropFirst()).filter { $1 != $0 + 1 }
        #expect(gaps.isEmpty, "the count must continue without a gap or a restart: \(gaps.prefix(3))")
        #expect(numbers.first == 1)

        #expect(try client.perform(.reboot, on: "counter").state == .active)
        #expect(try client.perform(.stop, on: "counter").state == .inactive)
        #expect(try client.show("counter").reason == "stopped by the host")
        #expect(try client.undefine("counter").definition.name == "counter")
        #expect(try client.list().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory + "/vms").isEmpty)
        #expect(daemon.terminate() == 0)
    }

    @Test func guestPowerOffAndCrashAreReportedWithAReason() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let client = daemon.client

        _ = try client.define(VMDefinition(name: "hello", boot: .guest("hello")))
        _ = try client.define(VMDefinition(name: "crash", boot: .guest("triplefault")))
        _ = try client.perform(.start, on: "hello")
        _ = try client.perform(.start, on: "crash")
        try DaemonProcess.wait(for: "both guests to end") {
            try client.show("hello").state == .inactive && client.show("crash").state == .inactive
        }
        #expect(try client.show("hello").reason == "guest exited with result code 0")
        #expect(try client.show("crash").reason?.hasPrefix("crashed: ") == true)
        #expect(String(decoding: try client.consoleBacklog("hello"), as: UTF8.self).contains("Hello from an Apus guest!"))

        var kinds: [String: [LifecycleEvent.Kind]] = [:]
        try client.events(since: 0) { event in
            kinds[event.name, default: []].append(event.kind)
            return kinds.values.map(\.count).reduce(0, +) < 6
        }
        #expect(kinds["hello"] == [.defined, .started, .poweredOff])
        #expect(kinds["crash"] == [.defined, .started, .crashed])
        #expect(daemon.terminate() == 0)
    }
}
