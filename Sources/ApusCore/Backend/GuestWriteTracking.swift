/// A backend's log of the guest-physical pages its own vCPUs stored to — KVM's dirty log, the software CPU's store
/// marks. It is the half of dirty-page tracking the VMM cannot see; the other half, writes by the VMM and its devices,
/// is each region's `HostWriteLog`. ApusVMM's `DirtyPageTracker` joins the two for snapshots and live migration.
public protocol GuestWriteTracking: AnyObject, Sendable {
    /// Starts logging, or restarts it from an empty log: pages written before this call are not reported.
    func startTrackingGuestWrites() throws
    /// The pages written since the start or the previous take, as guest-physical page numbers (address >> 12) in
    /// ascending order, emptying the log. A page written while a take runs is in that take or the next, never lost.
    func takeGuestWrittenPages() throws -> [UInt64]
    /// Stops logging (KVM then no longer write-protects the guest's pages to see its stores).
    func stopTrackingGuestWrites() throws
}
