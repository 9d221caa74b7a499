import ApusAPI
import Foundation
import Logging
import Synchronization

/// Every VM the daemon knows, by id; names are unique too. The allocator of the daemon's world: it hands out ids and
/// names, and brings the VMs back from the state directory when the daemon starts.
final class VMRegistry: Sendable {
    let store: StateDirectory
    let events: EventLog
    let boot: BootPreparation
    let budget: MemoryBudget
    private let launcher: any MachineLauncher
    let clones = CloneLedger()
    let logger: Logger
    let controllers = Mutex<[String: VMController]>([:])

    /// Machines run where `launcher` puts them; by default in this process.
    init(store: StateDirectory, events: EventLog, boot: BootPreparation, budget: MemoryBudget,
         launcher: (any MachineLauncher)? = nil, logger: Logger) {
        self.launcher = launcher ?? InProcessMachines(boot: boot)
        self.store = store
        self.events = events
        self.boot = boot
        self.budget = budget
        self.logger = logger
    }

    func makeController(for record: VMRecord) -> VMController {
        VMController(record: record, store: store, events: events, boot: boot, launcher: launcher, budget: budget,
                     clones: clones,
                     logger: logger)
    }

    /// Loads every VM on disk. A VM that was active or paused when the previous daemon died comes back inactive with
    /// that reason (its run is gone); a suspended VM whose saved state is unusable comes back inactive, saying why.
    func recover() {
        store.sweepLeftovers()
        let (records, problems) = store.loadAll()
        for problem in problems { logger.error("\(problem)") }
        for var record in records {
            var reason: String?
            switch record.state {
            case .active, .paused:
                reason = "apusd stopped while the VM was \(record.state.rawValue); its run was lost"
            case .suspended:
                if let problem = SavedStateCheck.problem(at: store.savedStateDirectory(of: record.id)) {
                    reason = "its saved state could not be used: \(problem)"
                }
            case .inactive:
                break
            }
            if record.lastOperation?.status == .running {
                record.lastOperation?.status = .interrupted
                record.lastOperation?.message = "apusd stopped while the operation ran"
                if reason == nil {
                    do { try store.save(record) } catch { logger.error("VM \(record.definition.name): \(error)") }
                }
            }
            if let reason {
                record.state = .inactive
                record.reason = reason
                record.since = Date()
                store.removeSavedState(of: record.id)
                do { try store.save(record) } catch { logger.error("VM \(record.definition.name): \(error)") }
                logger.warning("VM \(record.definition.name) is inactive: \(reason)")
            } else if record.state != .suspended {
                store.removeSavedState(of: record.id)
            }
            if let origin = record.clone {
                clones.register(id: record.id, name: record.definition.name, origin: origin)
            }
            let controller = makeController(for: record)
            controllers.withLock { $0[record.id] = controller }
        }
        // Overlays of a clone whose record was never written, or was deleted before its overlays were.
        let swept = store.sweepOverlays(keeping: clones.overlays)
        if !swept.isEmpty { logger.notice("removed \(swept.count) unreferenced clone overlay file(s): \(swept.joined(separator: ", "))") }
        logger.info("recovered \(records.count) VM\(records.count == 1 ? "" : "s") from \(store.root)")
    }

    var all: [VMController] {
        controllers.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    /// By id, or else by name.
    func find(_ key: String) throws -> VMController {
        let found = controllers.withLock { controllers in
            controllers[key] ?? controllers.values.first { $0.name == key }
        }
        guard let found else { throw DaemonError.notFound("no VM with id or name '\(key)'") }
        return found
    }

    func define(_ definition: VMDefinition) throws -> VMController {
        try boot.validate(definition)
        let record = VMRecord(id: UUID().uuidString.lowercased(), definition: definition, state: .inactive,
                              reason: nil, since: Date())
        let controller = makeController(for: record)
        try controllers.withLock { controllers in
            guard !controllers.values.contains(where: { $0.name == definition.name }) else {
                throw DaemonError.nameTaken(definition.name)
            }
            try store.save(record)
            controllers[record.id] = controller
        }
        events.record(vm: record.id, name: definition.name, kind: .defined, state: .inactive, reason: nil)
        return controller
    }

    func update(_ controller: VMController, to definition: VMDefinition,
                operationID: String = OperationIDs.make()) async throws -> VMInfo {
        try boot.validate(definition, ownedOverlays: controller.record.clone?.overlays ?? [])
        try controllers.withLock { controllers in
            guard !controllers.values.contains(where: { $0.name == definition.name && $0.id != controller.id }) else {
                throw DaemonError.nameTaken(definition.name)
            }
        }
        return try await controller.perform(.update, replacement: definition, operationID: operationID)
    }

    func undefine(_ controller: VMController, operationID: String = OperationIDs.make()) async throws -> VMInfo {
        let info = try await controller.perform(.undefine, operationID: operationID)
        _ = controllers.withLock { $0.removeValue(forKey: controller.id) }
        return info
    }

    func shutDown(suspending: Bool) async {
        await withTaskGroup(of: Void.self) { group in
            for controller in all { group.addTask { await controller.shutDown(suspending: suspending) } }
        }
        events.finishAll()
    }
}
