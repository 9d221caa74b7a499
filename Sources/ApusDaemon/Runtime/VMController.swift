import ApusAPI
import ApusVMM
import Foundation
import Logging
import Synchronization

/// One defined VM and, while it runs, its machine. Operations run one at a time on the VM's own serial queue (they
/// block: pausing waits for vCPUs to park, suspending writes memory to disk), so an HTTP handler awaits them without
/// holding a Swift concurrency thread, and reads of the VM's state never wait behind them.
final class VMController: Sendable {
    let id: String
    let console = ConsoleHub()
    private let store: StateDirectory
    private let events: EventLog
    private let boot: BootPreparation
    private let launcher: any MachineLauncher
    private let budget: MemoryBudget
    private let clones: CloneLedger
    private let logger: Logger
    private let queue: DispatchQueue
    private let shared: Mutex<Shared>

    private struct Shared {
        var record: VMRecord
        var run: Run?
        /// The operation in progress (a lifecycle operation, or "clone" while the VM is being cloned).
        var busy: String?
        /// The id of the operation being carried out; its events carry it.
        var operationID: String?
        var nextGeneration: UInt64 = 1
    }

    /// The machine of the current run; `generation` tells a run's end apart from the end of an earlier run.
    private struct Run {
        let machine: any MachineHandle
        let generation: UInt64
    }

    init(record: VMRecord, store: StateDirectory, events: EventLog, boot: BootPreparation,
         launcher: any MachineLauncher, budget: MemoryBudget, clones: CloneLedger, logger: Logger) {
        self.id = record.id
        self.store = store
        self.events = events
        self.boot = boot
        self.launcher = launcher
        self.budget = budget
        self.clones = clones
        self.logger = logger
        self.queue = DispatchQueue(label: "apus.vm.\(record.id)")
        self.shared = Mutex(Shared(record: record))
    }

    var name: String { shared.withLock { $0.record.definition.name } }
    var state: VMState { shared.withLock { $0.record.state } }
    var definition: VMDefinition { shared.withLock { $0.record.definition } }
    var record: VMRecord { shared.withLock { $0.record } }

    var info: VMInfo {
        shared.withLock { shared in
            VMInfo(id: id, definition: shared.record.definition, state: shared.record.state,
                   reason: shared.record.reason, since: shared.record.since,
                   runningBackend: shared.run?.machine.backendName, exits: shared.run?.machine.exitCounts,
                   lastOperation: shared.record.lastOperation, clonedFrom: shared.record.clone?.template)
        }
    }

    /// Feeds console input to the running guest; returns how many bytes its UART accepted (its FIFO holds 16).
    func sendConsoleInput(_ bytes: [UInt8]) throws -> Int {
        let (machine, state) = shared.withLock { ($0.run?.machine, $0.record.state) }
        guard let machine, state == .active else { throw DaemonError.notRunning(name: name, state: state) }
        return try machine.sendConsoleInput(bytes)
    }

    /// Exit counts of the current run, for metrics.
    var exitCounts: [String: Int]? { shared.withLock { $0.run?.machine.exitCounts } }

    // MARK: Operations

    /// Carries out a lifecycle operation; throws `.conflict` when the state does not allow it and `.busy` while
    /// another operation on this VM is in progress. `replacement` is the new definition for `.update`. The operation
    /// is recorded under `operationID` (running, then succeeded or failed) in the VM's record, so its outcome
    /// survives a lost reply and a daemon crash.
    func perform(_ operation: VMOperation, replacement: VMDefinition? = nil,
                 operationID: String = OperationIDs.make()) async throws -> VMInfo {
        try shared.withLock { shared in
            if let busy = shared.busy { throw DaemonError.busy(name: shared.record.definition.name, operation: busy) }
            guard shared.record.state.allows(operation) else {
                throw DaemonError.conflict(operation: operation, state: shared.record.state,
                                           name: shared.record.definition.name)
            }
            shared.busy = operation.rawValue
        }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let result = Result { () throws -> VMInfo in
                    defer { self.shared.withLock { $0.busy = nil } }
                    // The state may have moved while the operation waited (the guest powered off, say).
                    let state = self.state
                    guard state.allows(operation) else {
                        throw DaemonError.conflict(operation: operation, state: state, name: self.name)
                    }
                    try self.begin(operation, id: operationID)
                    defer { self.shared.withLock { $0.operationID = nil } }
                    do {
                        try self.carryOut(operation, from: state, replacement: replacement)
                    } catch {
                        self.finishOperation(failure: error)
                        throw error
                    }
                    return self.info
                }
                continuation.resume(with: result)
            }
        }
    }

    /// Runs `body` on the VM's queue while it is inactive, with no lifecycle operation able to start meanwhile
    /// (they answer "busy with '`label`'"): cloning reads the template's definition and images this way.
    func exclusivelyInactive<T: Sendable>(_ label: String, why: String,
                                           _ body: @escaping @Sendable (VMRecord) throws -> T) async throws -> T {
        try shared.withLock { shared in
            if let busy = shared.busy { throw DaemonError.busy(name: shared.record.definition.name, operation: busy) }
            guard shared.record.state == .inactive else {
                throw DaemonError.notInactive(name: shared.record.definition.name, state: shared.record.state,
                                              action: label, why: why)
            }
            shared.busy = label
        }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let result = Result { try body(self.record) }
                // Free before the caller resumes, so its next request does not find the VM busy.
                self.shared.withLock { $0.busy = nil }
                continuation.resume(with: result)
            }
        }
    }

    /// Refuses what would break this VM's clones, if it is a template: changing its disks or undefining it.
    private func checkTemplateRules(_ operation: VMOperation, replacement: VMDefinition?) throws {
        let clonesOfThis = clones.clones(of: id)
        guard !clonesOfThis.isEmpty else { return }
        let refused: String
        switch operation {
        case .undefine: refused = "be undefined"
        case .update where replacement?.disks != definition.disks: refused = "have its disks changed"
        default: return
        }
        throw DaemonError.templateInUse(
            "VM '\(name)' is a template with \(clonesOfThis.count) clone\(clonesOfThis.count == 1 ? "" : "s") "
            + "(\(CloneLedger.list(clonesOfThis))) whose disks read from its images: it cannot \(refused) while they "
            + "exist; undefine the clones first")
    }

    /// Refuses to start with a writable disk that clones read from as their template image.
    private func checkWritableDisks(_ disks: [DiskAttachment]) throws {
        for disk in disks where !disk.readOnly {
            let readers = clones.clones(readingFrom: [disk.path])
            guard readers.isEmpty else {
                throw DaemonError.templateInUse(
                    "VM '\(name)' cannot start with disk '\(disk.path)' writable: it is the template image of "
                    + "\(readers.count) clone\(readers.count == 1 ? "" : "s") (\(CloneLedger.list(readers))), whose overlays "
                    + "would be corrupted; undefine the clones first, or attach the disk readonly")
            }
        }
    }

    private func carryOut(_ operation: VMOperation, from state: VMState, replacement: VMDefinition?) throws {
        try checkTemplateRules(operation, replacement: replacement)
        switch operation {
        case .start:
            try withReservedMemory { try startMachine(reason: nil, event: .started) }
        case .pause:
            try currentMachine().pause()
            try transition(to: .paused, reason: nil, event: .paused, durable: false)
        case .resume where state == .suspended:
            try withReservedMemory { try restoreMachine() }
        case .resume:
            try currentMachine().resume()
            try transition(to: .active, reason: nil, event: .resumed, durable: false)
        case .suspend:
            try suspendMachine(reason: nil)
        case .stop where state == .suspended:
            store.removeSavedState(of: id)
            try transition(to: .inactive, reason: "saved state discarded by stop", event: .stopped)
        case .stop:
            endRun()
            try transition(to: .inactive, reason: "stopped by the host", event: .stopped)
        case .reboot:
            endRun()
            try startMachine(reason: "rebooted by the host", event: .rebooted)
        case .update:
            guard let replacement else { throw DaemonError.badRequest("update needs a definition") }
            try commit { $0.definition = replacement }
            clones.rename(id: id, to: replacement.name)
            events.record(vm: id, name: replacement.name, kind: .updated, state: .inactive, reason: nil,
                          operation: shared.withLock { $0.operationID })
        case .undefine:
            try store.remove(id)
            // The record is gone, so the overlays are no one's: a crash before this line leaves them to the sweep.
            if let origin = record.clone {
                clones.remove(id: id)
                CloneOverlay.remove(origin.overlays)
            }
            console.detachAll()
            events.record(vm: id, name: name, kind: .undefined, state: nil, reason: nil,
                          operation: shared.withLock { $0.operationID })
        }
    }

    /// Records the operation as running before anything happens (not fsynced: a daemon crash keeps the page cache).
    private func begin(_ operation: VMOperation, id operationID: String) throws {
        try commit(durable: false) { record in
            record.lastOperation = OperationRecord(id: operationID, operation: operation, status: .running, started: Date())
        }
        shared.withLock { $0.operationID = operationID }
    }

    /// Records a failed operation (the VM stayed as it was); a record that cannot be written is only logged.
    private func finishOperation(failure: any Error) {
        do {
            try commit(durable: false) { record in
                guard record.lastOperation?.status == .running else { return }
                record.lastOperation?.status = .failed
                record.lastOperation?.message = "\(failure)"
                record.lastOperation?.finished = Date()
            }
        } catch {
            logger.error("VM \(name): cannot record the failure of its operation: \(error)")
        }
    }

    /// Runs a start or a restore with the VM's memory reserved in the budget; a failure gives it back.
    private func withReservedMemory(_ body: () throws -> Void) throws {
        let definition = self.definition
        try budget.reserve(definition.memoryMiB, for: id, name: definition.name)
        do {
            try body()
        } catch {
            budget.release(id)
            throw error
        }
    }

    /// Writes the record with `change` applied; memory only changes once the disk has it.
    private func commit(durable: Bool = true, _ change: (inout VMRecord) -> Void) throws {
        var record = shared.withLock { $0.record }
        let operationInProgress = shared.withLock { $0.operationID }
        change(&record)
        // The operation's effect and its success are written together: after a crash the record never says
        // "succeeded" for a change it does not hold, nor holds a change still marked "running".
        if let operationInProgress, record.lastOperation?.id == operationInProgress,
           record.lastOperation?.status == .running {
            record.lastOperation?.status = .succeeded
            record.lastOperation?.finished = Date()
        }
        try store.save(record, durable: durable)
        shared.withLock { $0.record = record }
    }

    private func transition(to state: VMState, reason: String?, event: LifecycleEvent.Kind, durable: Bool = true) throws {
        try commit(durable: durable) { record in
            record.state = state
            record.reason = reason
            record.since = Date()
        }
        // A VM that no longer runs holds no guest memory.
        if state == .inactive || state == .suspended { budget.release(id) }
        events.record(vm: id, name: name, kind: event, state: state, reason: reason,
                      operation: shared.withLock { $0.operationID })
        logger.info("VM \(name) is \(state.rawValue)\(reason.map { ": \($0)" } ?? "")", metadata: ["vm": "\(id)"])
    }

    private func currentMachine() throws -> any MachineHandle {
        guard let machine = shared.withLock({ $0.run?.machine }) else {
            throw DaemonError.internal("VM '\(name)' has no running machine")
        }
        return machine
    }

    // MARK: Runs

    private func startMachine(reason: String?, event: LifecycleEvent.Kind) throws {
        let ownedOverlays = record.clone?.overlays ?? []
        try checkWritableDisks(try boot.checkedDisks(definition, ownedOverlays: ownedOverlays))
        let machine: any MachineHandle
        do {
            machine = try launcher.start(definition, ownedOverlays: ownedOverlays, vm: id, console: console)
        } catch let error as DaemonError {
            throw error
        } catch {
            throw DaemonError.unprocessable("cannot start VM '\(name)': \(error)")
        }
        adopt(machine)
        do {
            try transition(to: .active, reason: reason, event: event)
        } catch {
            endRun()
            throw error
        }
    }

    private func restoreMachine() throws {
        let machine: any MachineHandle
        do {
            machine = try launcher.restore(definition, ownedOverlays: record.clone?.overlays ?? [], vm: id,
                                           from: store.savedStateDirectory(of: id), console: console)
        } catch let error as DaemonError {
            throw error
        } catch {
            throw DaemonError.unprocessable("cannot resume VM '\(name)' from its saved state: \(error)")
        }
        adopt(machine)
        do {
            try transition(to: .active, reason: nil, event: .restored)
        } catch {
            endRun()
            throw error
        }
        // Only now, with the record saying "active", is the saved state stale; a crash before this line leaves the
        // VM suspended with its state intact.
        store.removeSavedState(of: id)
    }

    /// Pauses (if needed), writes the machine to disk, records "suspended", then releases the machine. On failure
    /// the partial files are removed and the VM carries on as it was.
    func suspendMachine(reason: String?) throws {
        let machine = try currentMachine()
        let wasRunning = !machine.isPaused
        if wasRunning { try machine.pause() }
        let directory = store.savedStateDirectory(of: id)
        do {
            try machine.suspend(to: directory)
            try transition(to: .suspended, reason: reason, event: .suspended)
        } catch {
            store.removeSavedState(of: id)
            if wasRunning { try? machine.resume() }
            throw Self.suspendFailure(error, name: name)
        }
        endRun()
    }

    /// The daemon's answer to a failed suspend: a full disk is 507, a machine that cannot be saved 422.
    static func suspendFailure(_ error: any Error, name: String) -> DaemonError {
        if let error = error as? DaemonError { return error }
        if let error = error as? SnapshotError { return StateDirectory.storageError(error, writing: "VM '\(name)'") }
        if let error = error as? VMMError, case .unsupported(let message) = error { return .unprocessable(message) }
        return .internal("cannot suspend VM '\(name)': \(error)")
    }

    private func adopt(_ machine: any MachineHandle) {
        if let note = machine.backendNote {
            logger.notice("VM \(name) runs on the \(machine.backendName) backend: \(note)", metadata: ["vm": "\(id)"])
        }
        let generation = shared.withLock { shared in
            let generation = shared.nextGeneration
            shared.nextGeneration += 1
            shared.run = Run(machine: machine, generation: generation)
            return generation
        }
        // Waits on its own thread: `waitForOutcome` blocks until every vCPU thread has left.
        let thread = Thread { [self] in
            let outcome = machine.waitForOutcome()
            queue.async { self.runEnded(outcome, generation: generation) }
        }
        thread.name = "apus-watch-\(name)"
        thread.start()
    }

    /// Ends the current run (if any) on the host's initiative; its end is then not reported as the guest's.
    private func endRun() {
        guard let machine = shared.withLock({ shared -> (any MachineHandle)? in
            defer { shared.run = nil }
            return shared.run?.machine
        }) else { return }
        machine.stop()
        _ = machine.waitForOutcome()
    }

    /// The guest ended its run by itself: power-off, reset, or a crash.
    private func runEnded(_ end: RunEnd, generation: UInt64) {
        let isCurrent = shared.withLock { shared -> Bool in
            guard shared.run?.generation == generation else { return false }
            shared.run = nil
            return true
        }
        guard isCurrent else { return }
        guard case .machine(let outcome) = end else {
            // The process that ran the machine died (killed, or crashed): the guest is gone, the daemon carries on.
            do {
                try transition(to: .inactive, reason: "\(end)", event: .crashed)
            } catch {
                logger.error("VM \(name): cannot record the end of its run (\(end)): \(error)")
            }
            return
        }
        do {
            switch outcome {
            case .systemEvent(.reset):
                do {
                    try startMachine(reason: "the guest rebooted", event: .rebooted)
                } catch {
                    // The old run is gone: the VM must not stay "active" with no machine behind it.
                    try transition(to: .inactive, reason: "the guest rebooted but could not start again: \(error)",
                                   event: .crashed)
                }
            case .exited, .halted, .systemEvent(.shutdown), .stopped:
                try transition(to: .inactive, reason: "\(outcome)", event: .poweredOff)
            case .tripleFault, .systemEvent(.crash), .failed:
                try transition(to: .inactive, reason: "crashed: \(outcome)", event: .crashed)
            }
        } catch {
            logger.error("VM \(name): cannot record the end of its run (\(outcome)): \(error)")
        }
    }

    /// At daemon shutdown: suspend a running VM so nothing is lost (or stop it when told to, or when suspending fails).
    func shutDown(suspending: Bool) async {
        let state = self.state
        guard state == .active || state == .paused else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                defer { continuation.resume() }
                if suspending {
                    do {
                        try self.suspendMachine(reason: "suspended because apusd stopped")
                        return
                    } catch {
                        self.logger.error("VM \(self.name): suspend at shutdown failed, stopping it instead: \(error)")
                    }
                }
                self.endRun()
                try? self.transition(to: .inactive, reason: "stopped because apusd stopped", event: .stopped)
            }
        }
        console.detachAll()
    }
}
