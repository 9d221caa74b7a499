@testable import ApusDaemon
import ApusAPI
import Foundation
import Logging
import Testing

/// A daemon killed mid-operation leaves the operation marked running in the VM's record; the next daemon reports it
/// as interrupted, with the VM in the state recovery put it in, so a client whose reply was lost learns the outcome.
@Suite struct OperationRecoveryTests {
    @Test func aRunningOperationComesBackInterrupted() throws {
        let root = NSTemporaryDirectory() + "apus-recovery-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try StateDirectory(root: root + "/state")
        let started = Date(timeIntervalSince1970: 1_800_000_000)
        var resuming = VMRecord(id: "a", definition: VMDefinition(name: "resuming", boot: .guest("counter")),
                                state: .active, reason: nil, since: started)
        resuming.lastOperation = OperationRecord(id: "lost-reply", operation: .resume, status: .running, started: started)
        var updated = VMRecord(id: "b", definition: VMDefinition(name: "updated", boot: .guest("hello")),
                               state: .inactive, reason: nil, since: started)
        updated.lastOperation = OperationRecord(id: "done", operation: .update, status: .succeeded, started: started,
                                                finished: started)
        var starting = VMRecord(id: "c", definition: VMDefinition(name: "starting", boot: .guest("hello")),
                                state: .inactive, reason: nil, since: started)
        starting.lastOperation = OperationRecord(id: "mid-start", operation: .start, status: .running, started: started)
        for record in [resuming, updated, starting] { try store.save(record) }

        let roots = try ImageRoots([root + "/images"], creating: root + "/images", stateDirectory: store.root)
        let registry = VMRegistry(store: store, events: EventLog(), boot: BootPreparation(imageRoots: roots, clonesDirectory: store.clonesDirectory),
                                  budget: MemoryBudget(limitMiB: nil), logger: Logger(label: "test"))
        registry.recover()

        let resumed = try registry.find("resuming").info
        #expect(resumed.state == .inactive)
        #expect(resumed.lastOperation?.id == "lost-reply")
        #expect(resumed.lastOperation?.status == .interrupted)
        #expect(resumed.lastOperation?.message == "apusd stopped while the operation ran")
        #expect(try registry.find("updated").info.lastOperation?.status == .succeeded)
        #expect(try registry.find("starting").info.lastOperation?.status == .interrupted)
        // The verdict is on disk too, for the daemon after this one.
        let (records, _) = store.loadAll()
        #expect(records.filter { $0.lastOperation?.status == .interrupted }.count == 2)
    }
}
