@testable import ApusDaemon
import ApusAPI
import ApusVMM
import Foundation
import Testing

/// The controller when things happen at once or break half-way, made deterministic by scripted machines that block
/// at a gate until the test lets them through: runs that end under an operation, suspends and resumes that fail
/// part-way, workers that die, operations that race.
@Suite(.timeLimit(.minutes(1))) struct VMControllerRaceTests {
    /// The guest powers off while a pause is blocked waiting for its vCPUs: the pause finishes first (operations and
    /// run ends take turns on the VM's queue), then the power-off makes the VM inactive, with no operation id.
    @Test func aRunThatEndsWhileAPauseIsInFlight() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        _ = try await vm.perform(.start)
        let machine = try #require(fixture.launcher.latest)
        let mark = fixture.events.lastSequence
        let gate = Gate()
        machine.script(.pause, .block(gate))
        let pause = Task { try await vm.perform(.pause, operationID: "op-pause") }
        await gate.arrival()
        machine.end(.machine(.systemEvent(.shutdown)))
        gate.open()
        #expect(try await pause.value.state == .paused)
        let poweredOff = try #require(await fixture.awaitEvent(.poweredOff, after: mark))
        #expect(poweredOff.operation == nil && poweredOff.state == .inactive)
        #expect(vm.state == .inactive && vm.info.reason == "\(MachineOutcome.systemEvent(.shutdown))")
        #expect(vm.info.lastOperation?.id == "op-pause" && vm.info.lastOperation?.status == .succeeded)
        #expect(fixture.budget.committedMiB == 0)
        #expect(await fixture.events(after: mark).map(\.kind) == [.paused, .poweredOff])
    }

    /// As above, but the pause fails because the run ended under it (a worker's channel closes): the failure is
    /// recorded against the operation, and the run's end still makes the VM inactive.
    @Test func aPauseThatFailsBecauseTheRunEnded() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        _ = try await vm.perform(.start)
        let machine = try #require(fixture.launcher.latest)
        let mark = fixture.events.lastSequence
        let gate = Gate()
        machine.script(.pause, MachineScript(gate: gate, failure: ScriptedFailure("the machine has stopped")))
        let pause = Task { try await vm.perform(.pause, operationID: "op-pause") }
        await gate.arrival()
        machine.end(.machine(.tripleFault(vcpu: 0)))
        gate.open()
        await #expect(throws: ScriptedFailure("the machine has stopped")) { try await pause.value }
        let crashed = try #require(await fixture.awaitEvent(.crashed, after: mark))
        #expect(crashed.reason == "crashed: \(MachineOutcome.tripleFault(vcpu: 0))" && crashed.operation == nil)
        #expect(vm.state == .inactive && vm.info.lastOperation?.status == .failed)
        #expect(await fixture.events(after: mark).map(\.kind) == [.crashed])
    }

    /// A suspend that fails after writing part of the state: the partial files go, the machine runs on as it was
    /// (resumed if it was running, still paused if it was paused), the failure is in the record, and a later
    /// suspend and restore bring back that same machine.
    @Test func aSuspendThatFailsHalfWayLosesNothing() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        _ = try await vm.perform(.start)
        let machine = try #require(fixture.launcher.latest)
        let saved = fixture.store.savedStateDirectory(of: vm.id)
        let mark = fixture.events.lastSequence

        machine.script(.suspend, .fail(ScriptedFailure("no space left on device")))
        await #expect(throws: DaemonError.internal("cannot suspend VM 'vm': no space left on device")) {
            try await vm.perform(.suspend, operationID: "op-suspend")
        }
        #expect(vm.state == .active && !machine.isPaused && !machine.hasEnded)
        #expect(machine.calls == [.pause, .suspend(to: saved), .resume])
        #expect(!FileManager.default.fileExists(atPath: saved), "the partial saved state was left behind")
        #expect(vm.info.lastOperation?.status == .failed)
        #expect(vm.info.lastOperation?.message == "cannot suspend VM 'vm': no space left on device")
        #expect(vm.info.runningBackend == "scripted" && fixture.budget.committedMiB == 64)

        _ = try await vm.perform(.pause)
        machine.script(.suspend, .fail(ScriptedFailure("no space left on device")))
        await #expect(throws: DaemonError.self) { try await vm.perform(.suspend) }
        #expect(vm.state == .paused && machine.isPaused && !machine.hasEnded)
        #expect(machine.calls.suffix(2) == [.pause, .suspend(to: saved)], "a paused VM was resumed by a failed suspend")

        _ = try await vm.perform(.suspend)
        _ = try await vm.perform(.resume)
        #expect(fixture.launcher.latest?.restoredFrom == machine.serial)
        #expect(await fixture.events(after: mark).map(\.kind) == [.paused, .suspended, .restored])
    }

    /// The worker dies while a resume waits for its reply: the resume fails, and the worker's exit makes the VM
    /// inactive with the reason and a "crashed" event.
    @Test func aWorkerThatDiesDuringResume() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        _ = try await vm.perform(.start)
        _ = try await vm.perform(.pause)
        let machine = try #require(fixture.launcher.latest)
        let mark = fixture.events.lastSequence
        machine.script(.resume, MachineScript(endRun: .workerExited(how: "signal 9"),
                                              failure: ScriptedFailure("worker exited before replying")))
        await #expect(throws: ScriptedFailure("worker exited before replying")) {
            try await vm.perform(.resume, operationID: "op-resume")
        }
        let crashed = try #require(await fixture.awaitEvent(.crashed, after: mark))
        #expect(crashed.reason == "worker exited: signal 9" && crashed.state == .inactive)
        #expect(vm.state == .inactive && vm.info.reason == "worker exited: signal 9")
        #expect(vm.info.lastOperation?.id == "op-resume" && vm.info.lastOperation?.status == .failed)
        #expect(fixture.budget.committedMiB == 0 && vm.info.runningBackend == nil)
    }

    /// A worker that dies while it restores a suspended VM: the VM stays suspended with its saved state intact and
    /// its memory given back, and the next resume restores it.
    @Test func aWorkerThatDiesDuringRestore() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        _ = try await vm.perform(.start)
        let original = try #require(fixture.launcher.latest)
        _ = try await vm.perform(.suspend)
        fixture.launcher.script(.restore, .fail(ScriptedFailure("worker exited: signal 11")))
        await #expect(throws: DaemonError.unprocessable("cannot resume VM 'vm' from its saved state: worker exited: signal 11")) {
            try await vm.perform(.resume, operationID: "op-restore")
        }
        #expect(vm.state == .suspended && fixture.savedStateExists(of: vm) && fixture.budget.committedMiB == 0)
        #expect(vm.info.lastOperation?.status == .failed)

        let info = try await vm.perform(.resume)
        #expect(info.state == .active && fixture.launcher.latest?.restoredFrom == original.serial)
    }

    /// While one operation is under way every other is refused as busy, naming it; the first then finishes.
    @Test func twoRacingOperations() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()

        let startGate = Gate()
        fixture.launcher.script(.start, .block(startGate))
        let start = Task { try await vm.perform(.start, operationID: "first") }
        await startGate.arrival()
        await #expect(throws: DaemonError.busy(name: "vm", operation: "start")) {
            try await vm.perform(.start, operationID: "second")
        }
        await #expect(throws: DaemonError.busy(name: "vm", operation: "start")) {
            try await fixture.registry.undefine(vm)
        }
        startGate.open()
        #expect(try await start.value.lastOperation?.id == "first")
        #expect(fixture.launcher.launches.count == 1)

        let machine = try #require(fixture.launcher.latest)
        let pauseGate = Gate()
        machine.script(.pause, .block(pauseGate))
        let pause = Task { try await vm.perform(.pause, operationID: "pause") }
        await pauseGate.arrival()
        for operation in [VMOperation.stop, .suspend, .reboot, .pause] {
            await #expect(throws: DaemonError.busy(name: "vm", operation: "pause")) {
                try await vm.perform(operation)
            }
        }
        // Reads do not wait behind the operation.
        #expect(vm.state == .active && vm.info.lastOperation?.id == "pause")
        pauseGate.open()
        #expect(try await pause.value.state == .paused)
        #expect(try await vm.perform(.stop).state == .inactive)
    }

    /// Runs that end by themselves: a power-off, a crash and a killed worker leave the VM inactive saying why; a
    /// guest reboot starts a new machine.
    @Test func runsThatEndByThemselves() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        let ends: [(RunEnd, LifecycleEvent.Kind, String)] = [
            (.machine(.halted), .poweredOff, "\(MachineOutcome.halted)"),
            (.machine(.systemEvent(.crash)), .crashed, "crashed: \(MachineOutcome.systemEvent(.crash))"),
            (.workerExited(how: "signal 9"), .crashed, "worker exited: signal 9"),
        ]
        for (end, kind, reason) in ends {
            _ = try await vm.perform(.start)
            let mark = fixture.events.lastSequence
            try #require(fixture.launcher.latest).end(end)
            let event = try #require(await fixture.awaitEvent(kind, after: mark))
            #expect(event.reason == reason && event.operation == nil && event.state == .inactive)
            #expect(vm.state == .inactive && vm.info.reason == reason && fixture.budget.committedMiB == 0)
        }

        _ = try await vm.perform(.start)
        let mark = fixture.events.lastSequence
        let before = try #require(fixture.launcher.latest)
        before.end(.machine(.systemEvent(.reset)))
        let rebooted = try #require(await fixture.awaitEvent(.rebooted, after: mark))
        #expect(rebooted.reason == "the guest rebooted" && rebooted.state == .active)
        #expect(vm.state == .active && fixture.launcher.latest !== before && fixture.budget.committedMiB == 64)
    }

    /// A guest reboot whose new machine cannot start leaves the VM inactive, saying why, with its memory given back:
    /// never "active" with no machine.
    @Test func aGuestRebootThatCannotStartAgain() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        _ = try await vm.perform(.start)
        let mark = fixture.events.lastSequence
        fixture.launcher.script(.start, .fail(ScriptedFailure("out of memory")))
        try #require(fixture.launcher.latest).end(.machine(.systemEvent(.reset)))
        let crashed = try #require(await fixture.awaitEvent(.crashed, after: mark))
        #expect(crashed.reason == "the guest rebooted but could not start again: cannot start VM 'vm': out of memory")
        #expect(vm.state == .inactive && vm.info.runningBackend == nil && fixture.budget.committedMiB == 0)
        #expect(try await vm.perform(.start).state == .active)
    }

    /// Cloning holds a VM exclusively while inactive: a lifecycle operation meanwhile is busy with "clone", and a
    /// clone while an operation runs is busy with that operation.
    @Test func cloningAndLifecycleOperationsExcludeEachOther() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        let cloneGate = Gate()
        let clone = Task {
            try await vm.exclusivelyInactive("clone", why: "its disks are being copied") { record in
                cloneGate.pass()
                return record.definition.name
            }
        }
        await cloneGate.arrival()
        await #expect(throws: DaemonError.busy(name: "vm", operation: "clone")) { try await vm.perform(.start) }
        cloneGate.open()
        #expect(try await clone.value == "vm")

        let startGate = Gate()
        fixture.launcher.script(.start, .block(startGate))
        let start = Task { try await vm.perform(.start) }
        await startGate.arrival()
        await #expect(throws: DaemonError.busy(name: "vm", operation: "start")) {
            try await vm.exclusivelyInactive("clone", why: "its disks are being copied") { _ in 0 }
        }
        startGate.open()
        #expect(try await start.value.state == .active)
        await #expect(throws: DaemonError.notInactive(name: "vm", state: .active, action: "clone",
                                                      why: "its disks are being copied")) {
            try await vm.exclusivelyInactive("clone", why: "its disks are being copied") { _ in 0 }
        }
    }

    /// The memory budget across the lifecycle: a start over the budget is refused saying what is committed; a
    /// suspend gives memory back; a restore over the budget is refused and leaves the VM suspended, its state kept.
    @Test func theMemoryBudgetAcrossTheLifecycle() async throws {
        let fixture = try ControllerFixture(budgetMiB: 100)
        defer { fixture.remove() }
        let first = try fixture.define("first", memoryMiB: 64)
        let second = try fixture.define("second", memoryMiB: 64)
        _ = try await first.perform(.start)
        await #expect(throws: DaemonError.insufficientMemory(name: "second", requestedMiB: 64, committedMiB: 64,
                                                             budgetMiB: 100)) {
            try await second.perform(.start)
        }
        #expect(second.state == .inactive && fixture.launcher.launches.count == 1)

        _ = try await first.perform(.suspend)
        _ = try await second.perform(.start)
        await #expect(throws: DaemonError.insufficientMemory(name: "first", requestedMiB: 64, committedMiB: 64,
                                                             budgetMiB: 100)) {
            try await first.perform(.resume)
        }
        #expect(first.state == .suspended && fixture.savedStateExists(of: first))
        #expect(fixture.launcher.launches.filter { $0.kind == .restore }.isEmpty)

        _ = try await second.perform(.stop)
        #expect(try await first.perform(.resume).state == .active && fixture.budget.committedMiB == 64)
    }
}
