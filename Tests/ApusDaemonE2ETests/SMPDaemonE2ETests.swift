import ApusAPI
import ApusClient
import Foundation
import Testing

/// A VM with several vCPUs through apusd (in its worker process): on the software CPU, and on KVM where usable, the
/// smp guest starts its application processors and counts exactly, also across pause, suspend and resume. More vCPUs
/// than the software CPU runs are refused with the reason and the VM stays defined and inactive.
@Suite(.serialized) struct SMPDaemonE2ETests {
    @Test func fourVCPUsThroughTheDaemon() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let client = daemon.client

        try runSMPGuest(named: "soft4", backend: "soft", client: client)
        guard try client.host().kvm.usable else {
            print("smp through apusd: skipping the KVM run: this host's KVM is not usable")
            #expect(daemon.terminate() == 0)
            return
        }
        try runSMPGuest(named: "smp", backend: "kvm", client: client)
        #expect(daemon.terminate() == 0)
    }

    private func runSMPGuest(named name: String, backend: String, client: ApusAPIClient) throws {
        let expected = "smp: CPU count 4, APIC IDs 0 1 2 3\n"
            + "smp: every AP's CPUID.1 APIC ID is its local APIC's ID\n"
            + "smp: counter 400000, expected 400000\n"
        _ = try client.define(VMDefinition(name: name, vcpus: 4, backend: backend, boot: .guest("smp")))
        #expect(try client.show(name).definition.vcpus == 4)
        _ = try client.perform(.start, on: name)
        // Pause, suspend and resume at once: the APs may still be starting or counting.
        _ = try? client.perform(.pause, on: name)
        if try client.show(name).state == .paused {
            #expect(try client.perform(.suspend, on: name).state == .suspended)
            #expect(try client.perform(.resume, on: name).state == .active)
            print("smp through apusd on \(backend): paused, suspended and resumed mid-run")
        } else {
            print("smp through apusd on \(backend): the guest ended before the pause reached it")
        }
        try DaemonProcess.wait(for: "the smp guest to end on \(backend)") { try client.show(name).state == .inactive }
        let reason = try client.show(name).reason
        #expect(reason == "guest exited with result code 0", "\(backend): the run ended with: \(reason ?? "no reason")")
        let console = String(decoding: try client.consoleBacklog(name), as: UTF8.self)
        #expect(console == expected, "\(backend): the console said: \(console)")
    }
}
