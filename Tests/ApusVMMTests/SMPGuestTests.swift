import ApusCore
import ApusDevices
import ApusGuests
import ApusSoftCPU
import ApusVMM
import Foundation
import Testing

/// Several vCPUs: the bootstrap processor starts the others with INIT and start-up IPIs, and they share memory.
@Suite struct SMPGuestTests {
    /// The same output on both backends: every AP started, its CPUID APIC ID right, 4 x 100,000 LOCK XADDs exact.
    @Test func smpGuestStartsEveryAPAndCountsExactly() throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        #expect(guest.vcpus == 4 && guest.needsInterruptController)
        #expect(guest.expectedOutput.contains("counter 400000, expected 400000"))
        for backend in Backends.usable(for: "smp guest") {
            let (outcome, output) = try runGuest(guest, on: backend)
            #expect(outcome == .exited(code: 0), "\(backend): \(outcome)")
            #expect(output == guest.expectedOutput, "\(backend) printed: \(output)")
        }
    }

    @Test func smpGuestWithTwoVCPUsCountsForTwo() throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        for backend in Backends.usable(for: "smp guest, 2 vCPUs") {
            let output = CapturingSerialOutput()
            let machine = try Machine(configuration: MachineConfiguration(
                vcpuCount: 2, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image),
                interruptController: .full), output: output)
            #expect(try machine.run() == .exited(code: 0))
            #expect(output.text == "smp: CPU count 2, APIC IDs 0 1\n"
                    + "smp: every AP's CPUID.1 APIC ID is its local APIC's ID\n"
                    + "smp: counter 200000, expected 200000\n", "\(backend)")
        }
    }

    /// Suspended while the application processors start or count, restored into a new machine: every vCPU's state,
    /// a waiting AP's included, comes back, and the count still comes out exact. On the software CPU the suspend
    /// lands at once (before the APs are started), while they start, and while they count.
    @Test(arguments: [0.0, 0.3, 1.0])
    func smpGuestSuspendedMidRunFinishesAfterRestore(delay: Double) throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        for backend in Backends.usable(for: "smp guest suspended after \(delay) s") {
            let before = CapturingSerialOutput()
            let machine = try Machine(configuration: MachineConfiguration(
                vcpuCount: guest.vcpus, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image),
                interruptController: .full), output: before)
            try machine.start()
            Thread.sleep(forTimeInterval: delay)
            guard machine.outcome == nil else {
                print("smp guest finished within \(delay) s on \(backend) on this host; nothing left to suspend")
                continue
            }
            let (restored, after) = try suspendAndResume(machine)
            #expect(restored.waitForOutcome() == .exited(code: 0), "\(backend)")
            #expect(before.text + after.text == guest.expectedOutput, "\(backend) printed: \(before.text + after.text)")
        }
    }

    /// A 4-vCPU machine suspended on KVM resumes on the software CPU: the APs KVM held waiting for INIT/SIPI wait
    /// there too, and the count is exact.
    @Test func aFourVCPUKVMSnapshotRestoresOnTheSoftwareCPU() throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        guard Backends.usable(for: "4-vCPU snapshot onto the software CPU").contains(.kvm) else { return }
        let before = CapturingSerialOutput()
        let machine = try Machine(configuration: MachineConfiguration(
            vcpuCount: guest.vcpus, backend: .kvm, boot: .guestImage(name: guest.name, bytes: guest.image),
            interruptController: .full), output: before)
        try machine.start()
        try machine.pause()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-smp-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try machine.suspend(to: directory)
        machine.stop()
        _ = machine.waitForOutcome()
        let after = CapturingSerialOutput()
        let restored = try Machine.restore(from: directory, output: after, backend: .soft)
        try restored.start()
        try restored.resume()
        #expect(restored.waitForOutcome() == .exited(code: 0))
        #expect(before.text + after.text == guest.expectedOutput, "printed: \(before.text + after.text)")
    }

    /// The software CPU runs up to 64 vCPUs and says so; 65 are refused with the reason.
    @Test func theSoftwareCPUSaysHowManyVCPUsItRuns() throws {
        let limit = SoftCPUHypervisor().vcpuLimit()
        #expect(limit.maximum == 64)
        #expect(limit.reason.contains("up to 64 vCPUs"))
        let guest = try #require(BuiltInGuests.named("smp"))
        #expect {
            _ = try Machine(configuration: MachineConfiguration(
                vcpuCount: 65, backend: .soft, boot: .guestImage(name: guest.name, bytes: guest.image),
                interruptController: .full), output: CapturingSerialOutput())
        } throws: { error in
            "\(error)".contains("65")
        }
    }

    @Test func vcpuCountsOutsideTheRangeOrWithoutLocalAPICsAreRefused() {
        let boot = BootSource.guestImage(name: "hello", bytes: [0xF4])
        for count in [0, -1, 65, 1000] {
            #expect(throws: VMMError.self) { try MachineConfiguration(vcpuCount: count, boot: boot).validate() }
        }
        #expect {
            try MachineConfiguration(vcpuCount: 2, boot: boot, interruptController: InterruptControllerMode.none).validate()
        } throws: { error in
            "\(error)".contains("2 vCPUs need the interrupt-controller platform")
        }
        #expect(throws: Never.self) {
            try MachineConfiguration(vcpuCount: 64, boot: boot, interruptController: .full).validate()
        }
    }
}
