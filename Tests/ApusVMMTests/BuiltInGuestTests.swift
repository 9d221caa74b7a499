import ApusCore
import ApusGuests
import ApusDevices
import ApusVMM
import Foundation
import Testing

/// Every guest in guests/ must pass on every backend usable here (Popek-Goldberg equivalence, end to end).
@Suite struct BuiltInGuestTests {
    static let passingGuests = BuiltInGuests.all.filter { !["triplefault", "unmapped", "piobench", "counter", "memfill", "timer", "apic"].contains($0.name) && $0.vcpus == 1 }

    @Test(arguments: passingGuests.map(\.name))
    func guestPassesOnEveryBackend(name: String) throws {
        let guest = try #require(BuiltInGuests.named(name))
        for backend in Backends.usable(for: "guest \(name)") {
            let (outcome, output) = try runGuest(guest, on: backend)
            if guest.kvmEmulatorMayStop, case .failed(let message) = outcome, message.contains("could not emulate") {
                // The host's KVM handed CPL-0 code to its instruction emulator, which lacks an instruction of the
                // group being printed: the lines before it must match; the rest is left to the other backend.
                let refereed = output.split(separator: "\n", omittingEmptySubsequences: false)
                #expect(guest.expectedOutput.hasPrefix(output), "\(name) on \(backend) printed: \(output)")
                print("\(name) on \(backend): this host's KVM instruction emulator stopped at '\(refereed.last ?? "")' "
                      + "(\(message)); the \(refereed.count - 1) lines before it matched")
                continue
            }
            #expect(outcome == .exited(code: guest.expectedResult), "\(name) on \(backend): \(outcome)")
            #expect(output == guest.expectedOutput, "\(name) on \(backend) printed: \(output)")
        }
    }

    @Test func tripleFaultEndsTheRunNamingTheExit() throws {
        let guest = try #require(BuiltInGuests.named("triplefault"))
        for backend in Backends.usable(for: "triplefault") {
            let (outcome, _) = try runGuest(guest, on: backend)
            #expect(outcome == .tripleFault(vcpu: 0), "\(backend): \(outcome)")
            #expect(outcome.description.contains("triple-fault"))
        }
    }

    @Test func unmappedPortWriteFailsWithTheAddress() throws {
        let guest = try #require(BuiltInGuests.named("unmapped"))
        for backend in Backends.usable(for: "unmapped") {
            let (outcome, _) = try runGuest(guest, on: backend)
            guard case .failed(let message) = outcome else {
                Issue.record("\(backend): expected a failure, got \(outcome)")
                continue
            }
            #expect(message.contains("0x1234"), "\(message)")
        }
    }

    @Test func memfillDirtiesItsMemoryOnEveryBackend() throws {
        let guest = try #require(BuiltInGuests.named("memfill"))
        for backend in Backends.usable(for: "memfill") {
            let output = CapturingSerialOutput()
            let machine = try Machine(configuration: MachineConfiguration(
                memoryMiB: 256, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image)), output: output)
            try machine.start()
            let deadline = Date().addingTimeInterval(60)
            while output.text != guest.expectedOutput && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            machine.stop()
            #expect(machine.waitForOutcome() == .stopped, "\(backend): memfill must spin until stopped")
            #expect(output.text == guest.expectedOutput, "\(backend) printed: \(output.text)")
        }
    }

    @Test func theDemoGuestIsBuiltIn() {
        #expect(BuiltInGuests.demo.name == "demo")
        #expect(!BuiltInGuests.demo.image.isEmpty)
    }
}

/// External interrupts end to end: the 8254 through the 8259A (in KVM's kernel, or the VMM's own for the software
/// CPU) into the guest's IDT, waking it from HLT.
@Suite struct TimerInterruptTests {
    @Test func timerGuestTakesTenInterrupts() throws {
        let guest = try #require(BuiltInGuests.named("timer"))
        #expect(guest.needsInterruptController)
        for backend in Backends.usable(for: "timer interrupts") {
            let output = CapturingSerialOutput()
            let machine = try Machine(configuration: MachineConfiguration(
                backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image), interruptController: .full),
                output: output)
            try machine.start()
            let finished = Date().addingTimeInterval(60)
            while output.text != guest.expectedOutput && Date() < finished { Thread.sleep(forTimeInterval: 0.01) }
            machine.stop()
            let outcome = machine.waitForOutcome()
            #expect(output.text == guest.expectedOutput, "\(backend): \(outcome); printed \(output.text)")
        }
    }
}
