import ApusCore
import ApusDevices
import ApusGuests
@testable import ApusVMM
import Foundation
import Testing

/// Live snapshots copy memory while the guest writes it: `memchurn` rewrites all 8,192 pages from 2 MiB to 34 MiB
/// on every pass, so a copy that missed a page written during the rounds (or the final take) would differ from the
/// paused guest's memory.
@Suite struct LiveSnapshotTests {
    private func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("apus-live-\(UUID())")
    }

    /// Runs `body` on every usable backend with `memchurn` started and a fresh directory for the snapshot.
    private func withRunningMemchurn(_ body: (BackendChoice, Machine, URL) throws -> Void) throws {
        let guest = try #require(BuiltInGuests.named("memchurn"))
        for backend in Backends.usable(for: "live snapshot") {
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let machine = try Machine(configuration: MachineConfiguration(
                memoryMiB: 64, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image)),
                output: CapturingSerialOutput())
            defer {
                machine.stop()
                _ = machine.waitForOutcome()
            }
            try machine.start()
            try body(backend, machine, directory)
        }
    }

    /// The memory files of the snapshot in `directory`, compared with `memory` byte for byte.
    private func memoryMatches(_ directory: URL, _ memory: GuestMemory) throws -> Bool {
        let snapshot = try SnapshotDirectory.read(from: directory.path)
        for (file, region) in zip(snapshot.memory, memory.regions) {
            let saved = try Data(contentsOf: directory.appendingPathComponent(file.file))
            let live = Data(bytes: region.hostBase, count: Int(region.range.size))
            if saved != live { return false }
        }
        return snapshot.memory.count == memory.regions.count
    }

    @Test func aSnapshotTakenWhileTheGuestWritesEqualsMemoryAtThePause() throws {
        try withRunningMemchurn { backend, machine, directory in
            Thread.sleep(forTimeInterval: 0.2)
            var rounds: [LiveSnapshotProgress] = []
            let report = try machine.snapshotLive(to: directory, maxRounds: 3, stopCopyPages: 16, leavePaused: true) {
                rounds.append($0)
            }
            #expect(machine.isPaused, "leavePaused keeps the source paused, as a migration's source is")
            #expect(rounds.first?.round == 0 && rounds.count == report.rounds + 1)
            #expect(try memoryMatches(directory, machine.parts.memory),
                    "\(backend): the snapshot's memory differs from the paused guest's")
            print("live snapshot on \(backend): \(report.rounds) rounds, \(report.pagesRecopied) pages recopied, "
                  + "\(report.finalPages) while paused, total \(report.total)")

            // It is an ordinary snapshot: it restores, and the guest runs on from there.
            let restored = try Machine.restore(from: directory, output: CapturingSerialOutput())
            try #require(try memoryMatches(directory, restored.parts.memory))
            try restored.start()
            try restored.resume()
            Thread.sleep(forTimeInterval: 0.2)
            restored.stop()
            #expect(restored.waitForOutcome() == .stopped, "\(backend): the restored guest must run until stopped")
        }
    }

    @Test func theGuestRunsOnAfterASnapshotAndAFailedOneLeavesThePreviousIntact() throws {
        try withRunningMemchurn { backend, machine, directory in
            let report = try machine.snapshotLive(to: directory, maxRounds: 2)
            #expect(!machine.isPaused, "\(backend): the guest must be running again after the snapshot")
            #expect(report.downtime > .zero && report.downtime <= report.total)
            let manifest = try Data(contentsOf: directory.appendingPathComponent("machine.json"))
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()

            // A second snapshot that fails at its very end (the manifest's temporary name is taken by a directory,
            // so it cannot be written, even as root) leaves the first untouched and the guest running.
            let blocker = directory.appendingPathComponent("machine.json.tmp-\(getpid())")
            try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: false)
            #expect(throws: SnapshotError.self) { try machine.snapshotLive(to: directory) }
            #expect(!machine.isPaused, "\(backend): a failed snapshot must leave the guest running")
            try FileManager.default.removeItem(at: blocker)
            #expect(try Data(contentsOf: directory.appendingPathComponent("machine.json")) == manifest)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == files,
                    "\(backend): the failed snapshot's memory files must be gone")
            // Tracking ended with the snapshot: a new tracker may start.
            let tracker = try machine.startDirtyPageTracking()
            _ = try tracker.takeDirtyPages()
            try machine.stopDirtyPageTracking()
        }
    }
}
