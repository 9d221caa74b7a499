public import ApusCore
import Synchronization

/// The guest-physical pages of one machine written since tracking started or since the previous take, by anyone: the
/// guest's vCPUs (the backend's `GuestWriteTracking`: KVM's dirty log, the software CPU's store marks) and the VMM
/// with its devices (each region's `HostWriteLog`, reader `.migration`). Live migration's rounds and live snapshots
/// take from it: copy everything once after `start`, then copy what each take returns.
public final class DirtyPageTracker: Sendable {
    public static let pageSize: UInt64 = 4096
    private let memory: GuestMemory
    private let guestWrites: any GuestWriteTracking
    /// Held for a whole take, so two takes never split one round's pages between them.
    private let taking = Mutex(())

    /// Starts tracking; fails with the reason when the backend keeps no log of its vCPUs' writes.
    init(memory: GuestMemory, backend: any MachineBackend) throws {
        guard let guestWrites = backend.guestWriteTracking else {
            throw VMMError.unsupported("the \(backend.backendName) backend keeps no log of the pages its vCPUs write, "
                                       + "so it cannot track dirty pages")
        }
        self.memory = memory
        self.guestWrites = guestWrites
        for region in memory.regions {
            region.hostWrites.start(.migration)
            region.hostWrites.pages(for: .migration).take { _ in }   // what the VMM wrote before the start
        }
        try guestWrites.startTrackingGuestWrites()
    }

    /// The guest-physical addresses of the pages written since the start or the previous take, ascending, each once.
    public func takeDirtyPages() throws -> [GuestAddress] {
        try taking.withLock { _ in
            var pages = Set(try guestWrites.takeGuestWrittenPages())
            for region in memory.regions {
                let first = region.range.start.rawValue / Self.pageSize
                region.hostWrites.pages(for: .migration).take { pages.insert(first + UInt64($0)) }
            }
            return pages.sorted().map { GuestAddress($0 * Self.pageSize) }
        }
    }

    /// Stops both logs (KVM stops write-protecting pages); the tracker takes nothing after this.
    func stop() throws {
        for region in memory.regions { region.hostWrites.stop(.migration) }
        try guestWrites.stopTrackingGuestWrites()
    }
}
