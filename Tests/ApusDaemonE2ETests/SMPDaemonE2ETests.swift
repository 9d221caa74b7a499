import ApusAPI
import ApusClient
import Foundation
import Testing

/// A VM with several vCPUs through apusd (in its worker process): on KVM the smp guest starts its application
/// processors and counts exactly, also across pause, suspend and resume; on the software CPU the start is refused
/// with the reason and the VM stays defined and inactive.
@Suite(.serialized) struct SMPDaemonE2ETests {
    @Test func fourVCPUsThroughTheDaemon() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let client = daemon.client
        let expected = "smp: CPU count 4, APIC IDs 0 1 2 3\n"
            + "smp: every AP's CPUID.1 APIC ID is its local APIC's ID\n"
            + "smp: counter 400000, expected 400000\n"

        _ = try client.define(VMDefinition(name: "soft4", vcpus: 4, backend: "soft", boot: .guest("smp")))
        do {
            _ = try client.perform(.start, on: "soft4")
            Issue.record("a 4-vCPU VM on the software CPU must be refused")
        } catch ClientError.api(let detail) {
            #expect((400..<500).contains(detail.status), "\(detail)")
            #expect(detail.message.contains("one vCPU per machine"), "\(detail.message)")
        }
        #expect(try client.show("soft4").state == .inactive)

        guard try client.host().kvm.usable else {
            print("smp through apusd: skipping the KVM run: this host's KVM is not usable")
            #expect(daemon.terminate() == 0)
            return
        }
        _ = try client.define(VMDefinition(name: "smp", vcpus: 4, backend: "kvm", boot: .guest("smp")))
        #expect(try client.show("smp").definition.vcpus == 4)
        _ = try client.perform(.start, on: "smp")
        // Pause, suspend and resume at once: the APs may still be starting or counting.
        _ = try? client.perform(.pause, on: "smp")
        if try client.show("smp").state == .paused {
            #expect(try client.perform(.suspend, on: "smp").state == .suspended)
            #expect(try client.perform(.resume, on: "smp").state == .active)
            print("smp through apusd: paused, suspended and resumed mid-run")
        } else {
            print("smp through apusd: the guest ended before the pause reached it")
        }
        try DaemonProcess.wait(for: "the smp guest to end") { try client.show("smp").state == .inactive }
        #expect(try client.show("smp").reason == "guest exited with result code 0")
        #expect(String(decoding: try client.consoleBacklog("smp"), as: UTF8.self) == expected)
        #expect(daemon.terminate() == 0)
    }
}
