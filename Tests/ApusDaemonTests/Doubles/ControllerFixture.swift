@testable import ApusDaemon
import ApusAPI
import Foundation
import Logging

/// A registry whose machines come from a `ScriptedLauncher`, over a throw-away state directory: the VM controller's
/// lifecycle logic in-process, with no guest, no worker and no socket.
struct ControllerFixture {
    let root: String
    let store: StateDirectory
    let events = EventLog(firstSequence: 1)
    let launcher = ScriptedLauncher()
    let budget: MemoryBudget
    let registry: VMRegistry

    init(budgetMiB: Int? = nil) throws {
        root = NSTemporaryDirectory() + "apus-controller-\(UInt32.random(in: 0...UInt32.max))"
        store = try StateDirectory(root: root + "/state")
        let roots = try ImageRoots([root + "/images"], creating: root + "/images", stateDirectory: store.root)
        budget = MemoryBudget(limitMiB: budgetMiB)
        registry = VMRegistry(store: store, events: events,
                              boot: BootPreparation(imageRoots: roots, clonesDirectory: store.clonesDirectory),
                              budget: budget, launcher: launcher, logger: Logger(label: "test"))
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    func define(_ name: String = "vm", memoryMiB: Int = 64) throws -> VMController {
        try registry.define(VMDefinition(name: name, memoryMiB: memoryMiB, boot: .guest("hello")))
    }

    func savedStateExists(of vm: VMController) -> Bool {
        FileManager.default.fileExists(atPath: store.savedStateDirectory(of: vm.id) + "/" + ScriptedMachine.stateFile)
    }

    /// Every event recorded after `mark` (an `events.lastSequence` taken earlier), in order.
    func events(after mark: UInt64) async -> [LifecycleEvent] {
        let subscription = events.subscribe(after: mark)
        // Finishing at once still delivers what was buffered: exactly the events recorded so far.
        subscription.finish()
        var recorded: [LifecycleEvent] = []
        for await event in subscription.events { recorded.append(event) }
        return recorded
    }

    /// Waits for the first event of `kind` after `mark`: what the controller records when a run ends by itself.
    func awaitEvent(_ kind: LifecycleEvent.Kind, after mark: UInt64) async -> LifecycleEvent? {
        let subscription = events.subscribe(after: mark)
        defer { subscription.finish() }
        for await event in subscription.events where event.kind == kind { return event }
        return nil
    }
}
