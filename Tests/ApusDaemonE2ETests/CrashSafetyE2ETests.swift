import ApusAPI
import ApusClient
import Foundation
import Testing

/// `kill -9` at awkward moments: nothing half-written survives, and every VM comes back in a state it can leave.
@Suite(.serialized) struct CrashSafetyE2ETests {
    @Test func killDuringSuspendLeavesACompleteStateOrAnInactiveVM() throws {
        // Different delays land the kill before, during and after the snapshot is committed.
        for delay in [0, 5_000, 40_000, 150_000, 600_000] as [useconds_t] {
            let directory = try DaemonProcess.scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let daemon = DaemonProcess(directory: directory)
            try daemon.start()
            let client = daemon.client
            _ = try client.define(VMDefinition(name: "big", memoryMiB: 256, boot: .guest("counter")))
            _ = try client.perform(.start, on: "big")
            try DaemonProcess.wait(for: "the counter to print") { try counterNumbers(client.consoleBacklog("big")).count >= 2 }
            let suspending = Thread { _ = try? client.perform(.suspend, on: "big") }
            suspending.start()
            usleep(delay)
            daemon.kill9()

            try daemon.start()
            let vm = try client.show("big")
            let leftovers = try FileManager.default.subpathsOfDirectory(atPath: daemon.stateDirectory)
                .filter { $0.contains(".tmp-") || $0.contains(".deleted-") }
            #expect(leftovers.isEmpty, "delay \(delay) µs left \(leftovers)")
            switch vm.state {
            case .suspended:
                _ = try client.perform(.resume, on: "big")
                try DaemonProcess.wait(for: "output after resume") { try counterNumbers(client.consoleBacklog("big")).count >= 2 }
                let numbers = counterNumbers(try client.consoleBacklog("big"))
                #expect(numbers.first ?? 0 > 1, "a resumed VM continues its count rather than rebooting")
            case .inactive:
                #expect(vm.reason?.contains("apusd stopped") == true, "reason: \(vm.reason ?? "none")")
                _ = try client.perform(.start, on: "big")
            default:
                Issue.record("after kill -9 the VM is \(vm.state.rawValue)")
            }
            print("kill -9 after \(delay) µs of suspending: the VM came back \(vm.state.rawValue)")
            _ = try client.perform(.stop, on: "big")
            daemon.terminate()
        }
    }

    @Test func killWhileActiveComesBackInactiveWithTheReason() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        _ = try daemon.client.define(VMDefinition(name: "a", boot: .guest("counter")))
        _ = try daemon.client.define(VMDefinition(name: "p", boot: .guest("counter")))
        _ = try daemon.client.define(VMDefinition(name: "idle", boot: .guest("counter")))
        _ = try daemon.client.perform(.start, on: "a")
        _ = try daemon.client.perform(.start, on: "p")
        _ = try daemon.client.perform(.pause, on: "p")
        daemon.kill9()
        try daemon.start()
        let vms = Dictionary(uniqueKeysWithValues: try daemon.client.list().map { ($0.definition.name, $0) })
        #expect(vms["a"]?.state == .inactive)
        #expect(vms["a"]?.reason == "apusd stopped while the VM was active; its run was lost")
        #expect(vms["p"]?.reason == "apusd stopped while the VM was paused; its run was lost")
        #expect(vms["idle"]?.state == .inactive)
        #expect(vms["idle"]?.reason == nil)
        daemon.terminate()
    }
}
