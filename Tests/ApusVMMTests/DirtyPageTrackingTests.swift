import ApusCore
import ApusDevices
import ApusGuests
@testable import ApusVMM
import Foundation
import Testing

/// Dirty-page tracking on both backends (live migration's rounds and live snapshots take from it): the `memfill`
/// guest writes one quadword into every page from 2 MiB to 250 MiB and then spins without storing, so the first take
/// must hold every one of those pages and nothing at or above 250 MiB, and later takes only what was written since.
@Suite struct DirtyPageTrackingTests {
    static let filled = UInt64(0x20_0000)..<UInt64(0xFA0_0000)

    private func waitFor(_ text: String, in output: CapturingSerialOutput) -> Bool {
        // A liveness bound, not a timing assertion.
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline && !output.text.contains(text) { Thread.sleep(forTimeInterval: 0.02) }
        return output.text.contains(text)
    }

    @Test func theTrackerSeesTheGuestsAndTheVMMsWritesOnce() throws {
        for backend in Backends.usable(for: "dirty-page tracking") {
            let guest = try #require(BuiltInGuests.named("memfill"))
            let output = CapturingSerialOutput()
            let machine = try Machine(configuration: MachineConfiguration(
                memoryMiB: 256, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image)),
                output: output)
            defer {
                machine.stop()
                _ = machine.waitForOutcome()
            }
            // Started before the guest runs: what the loader wrote is not reported, all the guest writes is.
            let tracker = try machine.startDirtyPageTracking()
            #expect(throws: VMMError.self, "a second tracker on one machine") { try machine.startDirtyPageTracking() }
            try machine.start()
            try #require(waitFor("memfill: 248 MiB dirtied", in: output), "\(backend): memfill did not finish")
            try machine.pause()

            let first = try tracker.takeDirtyPages().map(\.rawValue)
            let filledPages = first.filter { Self.filled.contains($0) }
            #expect(filledPages.count == Int(Self.filled.count / 4096),
                    "\(backend): \(filledPages.count) of the \(Self.filled.count / 4096) pages the guest filled")
            #expect(first.allSatisfy { $0 < Self.filled.upperBound }, "\(backend): a page above what the guest wrote")
            #expect(first == first.sorted() && Set(first).count == first.count, "ascending, each page once")
            #expect(try tracker.takeDirtyPages().isEmpty, "\(backend): a take empties the log")

            // The guest now spins without storing: a while later there is still nothing to take.
            try machine.resume()
            Thread.sleep(forTimeInterval: 0.3)
            try machine.pause()
            #expect(try tracker.takeDirtyPages().isEmpty, "\(backend): pages reported that nobody wrote")

            // A write by the VMM (a device's DMA, a loader) is reported as the guest's are.
            try machine.parts.memory.write(UInt64(0xA5A5), at: GuestAddress(0xFB0_0010))
            #expect(try tracker.takeDirtyPages() == [GuestAddress(0xFB0_0000)], "\(backend)")

            try machine.stopDirtyPageTracking()
            try machine.parts.memory.write(UInt64(0x5A5A), at: GuestAddress(0xFB0_0010))
            let again = try machine.startDirtyPageTracking()
            #expect(try again.takeDirtyPages().isEmpty, "\(backend): a restart reports nothing from before it")
            try machine.stopDirtyPageTracking()
        }
    }
}
