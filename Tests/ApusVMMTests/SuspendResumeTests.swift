import ApusCore
import ApusDevices
import ApusGuests
import ApusVMM
import Foundation
import Testing

/// A suspended machine written to disk and rebuilt continues exactly where it stopped: the counting guest's output,
/// before and after, is one unbroken sequence 1, 2, 3, ... with no reboot in between.
@Suite struct SuspendResumeTests {
    private func waitForLines(_ output: CapturingSerialOutput, atLeast count: Int) {
        // A liveness bound, not a timing assertion.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && output.text.filter({ $0 == "\n" }).count < count {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    @Test func suspendedCounterContinuesAfterRestore() throws {
        for backend in Backends.usable(for: "suspend/restore") {
            let guest = try #require(BuiltInGuests.named("counter"))
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-suspend-\(UUID())")
            defer { try? FileManager.default.removeItem(at: directory) }

            let before = CapturingSerialOutput()
            let machine = try Machine(configuration: MachineConfiguration(
                backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image)), output: before)
            try machine.start()
            waitForLines(before, atLeast: 5)
            try machine.pause()
            try machine.suspend(to: directory)
            machine.stop()
            #expect(machine.waitForOutcome() == .stopped)

            let after = CapturingSerialOutput()
            let restored = try Machine.restore(from: directory, output: after)
            try restored.start()
            #expect(after.text.isEmpty, "a restored machine must wait for resume")
            try restored.resume()
            waitForLines(after, atLeast: 5)
            restored.stop()
            let outcome = restored.waitForOutcome()
            #expect(outcome == .stopped, "\(backend): the restored machine ended by itself: \(outcome)")

            let numbers = (before.text + after.text).split(separator: "\n").dropLast().map { Int($0) }
            #expect(numbers.count >= 9)
            #expect(numbers == (1...numbers.count).map { Optional($0) },
                    "output was not one sequence: \(before.text.suffix(40)) | \(after.text.prefix(40))")
        }
    }

    @Test func corruptSnapshotsAreRejectedWithAReason() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-corrupt-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: SnapshotError.self) { try Machine.restore(from: directory, output: CapturingSerialOutput()) }
        try Data("{\"formatVersion\": 1}".utf8).write(to: directory.appendingPathComponent("machine.json"))
        #expect(throws: SnapshotError.self) { try Machine.restore(from: directory, output: CapturingSerialOutput()) }
    }
}
