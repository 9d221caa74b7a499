import ApusCore
import ApusDevices
import ApusGuests
import ApusVMM
import Foundation
import Testing

/// Several vCPUs: the bootstrap processor starts the others with INIT and start-up IPIs, and they share memory.
@Suite struct SMPGuestTests {
    @Test func smpGuestStartsEveryAPAndCountsExactly() throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        #expect(guest.vcpus == 4 && guest.needsInterruptController)
        guard Backends.usable(for: "smp guest").contains(.kvm) else { return }
        let (outcome, output) = try runGuest(guest, on: .kvm)
        #expect(outcome == .exited(code: 0), "\(outcome)")
        #expect(output == guest.expectedOutput, "printed: \(output)")
    }

    @Test func smpGuestWithTwoVCPUsCountsForTwo() throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        guard Backends.usable(for: "smp guest, 2 vCPUs").contains(.kvm) else { return }
        let output = CapturingSerialOutput()
        let machine = try Machine(configuration: MachineConfiguration(
            vcpuCount: 2, backend: .kvm, boot: .guestImage(name: guest.name, bytes: guest.image),
            interruptController: .full), output: output)
        #expect(try machine.run() == .exited(code: 0))
        #expect(output.text == "smp: CPU count 2, APIC IDs 0 1\n"
                + "smp: every AP's CPUID.1 APIC ID is its local APIC's ID\n"
                + "smp: counter 200000, expected 200000\n")
    }

    /// Suspended while the application processors start or count, restored into a new machine: every vCPU's state,
    /// a waiting AP's included, comes back, and the count still comes out exact.
    @Test(arguments: [0.0, 0.3, 1.0])
    func smpGuestSuspendedMidRunFinishesAfterRestore(delay: Double) throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        guard Backends.usable(for: "smp guest suspended after \(delay) s").contains(.kvm) else { return }
        let before = CapturingSerialOutput()
        let machine = try Machine(configuration: MachineConfiguration(
            vcpuCount: guest.vcpus, backend: .kvm, boot: .guestImage(name: guest.name, bytes: guest.image),
            interruptController: .full), output: before)
        try machine.start()
        Thread.sleep(forTimeInterval: delay)
        guard machine.outcome == nil else {
            print("smp guest finished within \(delay) s on this host; nothing left to suspend")
            return
        }
        let (restored, after) = try suspendAndResume(machine)
        #expect(restored.waitForOutcome() == .exited(code: 0))
        #expect(before.text + after.text == guest.expectedOutput, "printed: \(before.text + after.text)")
    }

    /// A 4-vCPU machine suspended on KVM is not restored onto the software CPU, which runs one vCPU so far.
    @Test func aFourVCPUSnapshotIsNotRestoredOnTheSoftwareCPU() throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        guard Backends.usable(for: "4-vCPU snapshot onto the software CPU").contains(.kvm) else { return }
        let machine = try Machine(configuration: MachineConfiguration(
            vcpuCount: guest.vcpus, backend: .kvm, boot: .guestImage(name: guest.name, bytes: guest.image),
            interruptController: .full), output: CapturingSerialOutput())
        try machine.start()
        try machine.pause()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-smp-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try machine.suspend(to: directory)
        machine.stop()
        _ = machine.waitForOutcome()
        #expect {
            _ = try Machine.restore(from: directory, output: CapturingSerialOutput(), backend: .soft)
        } throws: { error in
            "\(error)".contains("4 vCPUs on the soft backend")
        }
    }

    @Test func theSoftwareCPUSaysItRunsOneVCPU() throws {
        let guest = try #require(BuiltInGuests.named("smp"))
        #expect {
            _ = try Machine(configuration: MachineConfiguration(
                vcpuCount: 4, backend: .soft, boot: .guestImage(name: guest.name, bytes: guest.image),
                interruptController: .full), output: CapturingSerialOutput())
        } throws: { error in
            "\(error)".contains("4 vCPUs on the soft backend") && "\(error)".contains("one vCPU per machine")
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
