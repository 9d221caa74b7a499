import ApusCore
import ApusDevices
import ApusGuests
import ApusVMM
import Foundation
import Synchronization
import Testing

/// A machine suspended on one backend resumes on the other: guests/apic.S is paused right after it prints line k
/// (so mid-way through the next section: a self-IPI held back by the TPR, a LAPIC timer armed while the CPU halts or
/// counting periods, the IOAPIC's edge pin), suspended, restored on the other backend, and must finish with exactly
/// its expected output. The LAPIC crosses as `LocalAPICState` (KVM's register page translated), the PIC, IOAPIC and
/// PIT as the same Swift devices on both sides.
@Suite struct CrossBackendSuspendTests {
    /// Counts the guest's lines and, at line `pauseAfter`, asks for a pause from another thread (the vCPU that is
    /// printing cannot wait for itself to park).
    final class PausingOutput: SerialOutput {
        let captured = CapturingSerialOutput()
        let pauseAfter: Int
        private let lines = Mutex(0)
        let machine = Mutex<Machine?>(nil)
        init(pauseAfter: Int) { self.pauseAfter = pauseAfter }

        func transmit(_ byte: UInt8) {
            captured.transmit(byte)
            guard byte == UInt8(ascii: "\n") else { return }
            let count = lines.withLock { count in
                count += 1
                return count
            }
            guard count == pauseAfter, let machine = machine.withLock({ $0 }) else { return }
            Thread.detachNewThread { try? machine.pause() }
        }
    }

    /// Nil when the guest ended before the pause took hold (the move then happened at no point of interest).
    func move(from first: BackendChoice, to second: BackendChoice, pauseAfter lines: Int) throws -> String? {
        let guest = try #require(BuiltInGuests.named("apic"))
        let before = PausingOutput(pauseAfter: lines)
        let machine = try Machine(configuration: MachineConfiguration(
            backend: first, boot: .guestImage(name: guest.name, bytes: guest.image), interruptController: .full),
            output: before)
        before.machine.withLock { $0 = machine }
        try machine.start()
        // Liveness bounds, not timing assertions.
        let deadline = Date().addingTimeInterval(120)
        while !machine.isPaused && machine.outcome == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        guard machine.isPaused, machine.outcome == nil else {
            machine.stop()
            _ = machine.waitForOutcome()
            return nil
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-cross-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try machine.suspend(to: directory)
        machine.stop()
        _ = machine.waitForOutcome()

        let after = CapturingSerialOutput()
        let restored = try Machine.restore(from: directory, output: after, backend: second)
        #expect(restored.backendName == second.rawValue)
        try restored.start()
        do {
            try restored.resume()
        } catch {
            // A vCPU that failed to take its restored state ends the run at once; its outcome says why.
            Issue.record("\(first) -> \(second) after line \(lines): \(error); \(restored.waitForOutcome())")
            return nil
        }
        let finished = Date().addingTimeInterval(120)
        while restored.outcome == nil && Date() < finished { Thread.sleep(forTimeInterval: 0.01) }
        restored.stop()
        let outcome = restored.waitForOutcome()
        #expect(outcome == .exited(code: 0), "\(first) -> \(second) after line \(lines): \(outcome)")
        return before.captured.text + after.text
    }

    /// Pause points before the IOAPIC level section (line 7), so that section runs on one backend only.
    static let pausePoints = [1, 2, 3, 4, 5]

    func check(_ directions: [(BackendChoice, BackendChoice)]) throws {
        for (first, second) in directions {
            var moved = 0
            for lines in Self.pausePoints {
                guard let text = try move(from: first, to: second, pauseAfter: lines) else {
                    print("CrossBackendSuspendTests: \(first) -> \(second): the guest ended before the pause after line \(lines)")
                    continue
                }
                moved += 1
                let expected = try APICGuestExpectation.output(levelSectionOn: second, printed: text,
                                                               test: "CrossBackendSuspendTests")
                #expect(text == expected, "\(first) -> \(second) after line \(lines): printed\n\(text)")
            }
            #expect(moved > 0, "\(first) -> \(second): no pause landed mid-run")
        }
    }

    @Test func theAPICGuestResumesOnTheSameSoftwareCPU() throws {
        try check([(.soft, .soft)])
    }

    @Test func theAPICGuestMovesBetweenKVMAndTheSoftwareCPU() throws {
        if case .unusable(let reason) = Backends.kvmAvailability {
            print("CrossBackendSuspendTests: skipping the moves to and from KVM: \(reason)")
            return
        }
        try check([(.kvm, .soft), (.soft, .kvm), (.kvm, .kvm)])
    }
}
