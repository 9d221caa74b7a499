@testable import ApusDaemon
import ApusAPI
import ApusVMM
import Foundation
import Testing

/// The VM controller's typed lifecycle driven in-process through scripted machines: every allowed transition with
/// the operation id its record and its event carry, and every refused one.
@Suite(.timeLimit(.minutes(1))) struct VMControllerLifecycleTests {
    @Test func everyTransitionRecordsItsOperationAndEvent() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        let mark = fixture.events.lastSequence

        var info = try await vm.perform(.start, operationID: "op-start")
        #expect(info.state == .active && info.runningBackend == "scripted")
        #expect(info.lastOperation?.id == "op-start" && info.lastOperation?.status == .succeeded)
        #expect(fixture.budget.committedMiB == 64)
        let first = try #require(fixture.launcher.latest)

        info = try await vm.perform(.pause, operationID: "op-pause")
        #expect(info.state == .paused && first.isPaused)
        info = try await vm.perform(.resume, operationID: "op-resume")
        #expect(info.state == .active && !first.isPaused)

        // Suspending a running VM pauses it, writes it out, then ends its run and gives its memory back.
        info = try await vm.perform(.suspend, operationID: "op-suspend")
        let saved = fixture.store.savedStateDirectory(of: vm.id)
        #expect(info.state == .suspended && info.runningBackend == nil)
        #expect(first.calls == [.pause, .resume, .pause, .suspend(to: saved), .stop])
        #expect(fixture.savedStateExists(of: vm) && fixture.budget.committedMiB == 0)

        // Resuming a suspended VM rebuilds the machine from what the suspend wrote; the saved state is then stale.
        info = try await vm.perform(.resume, operationID: "op-restore")
        let restored = try #require(fixture.launcher.latest)
        #expect(info.state == .active && restored.restoredFrom == first.serial)
        #expect(fixture.launcher.launches.last?.kind == .restore && fixture.launcher.launches.last?.directory == saved)
        #expect(!fixture.savedStateExists(of: vm) && fixture.budget.committedMiB == 64)

        info = try await vm.perform(.reboot, operationID: "op-reboot")
        let rebooted = try #require(fixture.launcher.latest)
        #expect(info.state == .active && info.reason == "rebooted by the host" && rebooted !== restored)
        #expect(restored.calls == [.stop] && fixture.budget.committedMiB == 64)

        _ = try await vm.perform(.pause, operationID: "op-pause-2")
        info = try await vm.perform(.reboot, operationID: "op-reboot-paused")
        #expect(info.state == .active && fixture.launcher.machines.count == 4)

        info = try await vm.perform(.stop, operationID: "op-stop")
        #expect(info.state == .inactive && info.reason == "stopped by the host" && fixture.budget.committedMiB == 0)

        _ = try await vm.perform(.start, operationID: "op-start-2")
        _ = try await vm.perform(.suspend, operationID: "op-suspend-2")
        info = try await vm.perform(.stop, operationID: "op-discard")
        #expect(info.state == .inactive && info.reason == "saved state discarded by stop")
        #expect(!FileManager.default.fileExists(atPath: saved))

        info = try await fixture.registry.update(vm, to: VMDefinition(name: "renamed", boot: .guest("hello")),
                                                 operationID: "op-update")
        #expect(info.definition.name == "renamed" && info.state == .inactive)
        _ = try await fixture.registry.undefine(vm, operationID: "op-undefine")
        #expect(throws: DaemonError.self) { try fixture.registry.find("renamed") }

        let events = await fixture.events(after: mark)
        #expect(events.map(\.kind) == [.started, .paused, .resumed, .suspended, .restored, .rebooted, .paused, .rebooted,
                                       .stopped, .started, .suspended, .stopped, .updated, .undefined])
        #expect(events.map(\.operation) == ["op-start", "op-pause", "op-resume", "op-suspend", "op-restore", "op-reboot",
                                            "op-pause-2", "op-reboot-paused", "op-stop", "op-start-2", "op-suspend-2",
                                            "op-discard", "op-update", "op-undefine"])
        #expect(events.map(\.state) == [.active, .paused, .active, .suspended, .active, .active, .paused, .active,
                                        .inactive, .active, .suspended, .inactive, .inactive, nil])
        #expect(events.allSatisfy { $0.vm == vm.id })
    }

    /// Each state refuses what its table does not allow, before anything is recorded or any machine is touched.
    @Test func refusedOperationsChangeNothing() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        for (state, reach) in [(VMState.inactive, nil), (.active, VMOperation.start), (.paused, .pause),
                               (.suspended, .suspend)] {
            if let reach { _ = try await vm.perform(reach) }
            #expect(vm.state == state)
            let before = vm.record
            let mark = fixture.events.lastSequence
            let calls = fixture.launcher.latest?.calls ?? []
            let launches = fixture.launcher.launches.count
            for operation in VMOperation.allCases where !state.allows(operation) {
                await #expect(throws: DaemonError.conflict(operation: operation, state: state, name: "vm")) {
                    try await vm.perform(operation, operationID: "refused-\(operation)")
                }
            }
            #expect(vm.record == before, "a refused operation in state \(state) changed the record")
            #expect(await fixture.events(after: mark).isEmpty)
            #expect((fixture.launcher.latest?.calls ?? []) == calls && fixture.launcher.launches.count == launches)
        }
    }

    /// A launch that fails leaves the VM inactive with its memory given back, and its record says why.
    @Test func aStartThatFailsIsRecordedAndChangesNothing() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        let mark = fixture.events.lastSequence
        fixture.launcher.script(.start, .fail(ScriptedFailure("no vCPU for you")))
        await #expect(throws: DaemonError.unprocessable("cannot start VM 'vm': no vCPU for you")) {
            try await vm.perform(.start, operationID: "op-fails")
        }
        #expect(vm.state == .inactive && fixture.budget.committedMiB == 0)
        #expect(vm.info.lastOperation?.id == "op-fails" && vm.info.lastOperation?.status == .failed)
        #expect(vm.info.lastOperation?.message == "cannot start VM 'vm': no vCPU for you")
        #expect(await fixture.events(after: mark).isEmpty)

        let info = try await vm.perform(.start, operationID: "op-works")
        #expect(info.state == .active && info.lastOperation?.status == .succeeded)
    }

    /// A pause or resume the machine refuses leaves the VM as it was, with the failure in its record.
    @Test func aRefusedPauseOrResumeLeavesTheVMAsItWas() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        _ = try await vm.perform(.start)
        let machine = try #require(fixture.launcher.latest)
        machine.script(.pause, .fail(ScriptedFailure("vCPU 0 did not park")))
        await #expect(throws: ScriptedFailure("vCPU 0 did not park")) { try await vm.perform(.pause, operationID: "p") }
        #expect(vm.state == .active && vm.info.lastOperation?.status == .failed)
        #expect(vm.info.lastOperation?.message == "vCPU 0 did not park")

        _ = try await vm.perform(.pause)
        machine.script(.resume, .fail(ScriptedFailure("vCPU 0 is gone")))
        await #expect(throws: ScriptedFailure("vCPU 0 is gone")) { try await vm.perform(.resume, operationID: "r") }
        #expect(vm.state == .paused && vm.info.lastOperation?.id == "r" && vm.info.lastOperation?.status == .failed)
    }

    /// Console input reaches an active machine only.
    @Test func consoleInputNeedsAnActiveVM() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let vm = try fixture.define()
        #expect(throws: DaemonError.notRunning(name: "vm", state: .inactive)) { try vm.sendConsoleInput([0x41]) }
        _ = try await vm.perform(.start)
        #expect(try vm.sendConsoleInput([0x41, 0x42]) == 2)
        _ = try await vm.perform(.pause)
        #expect(throws: DaemonError.notRunning(name: "vm", state: .paused)) { try vm.sendConsoleInput([0x43]) }
        #expect(fixture.launcher.latest?.calls == [.consoleInput([0x41, 0x42]), .pause])
    }

    /// At daemon shutdown a running VM is suspended; one whose suspend fails is stopped instead, never left running.
    @Test func shutdownSuspendsOrElseStops() async throws {
        let fixture = try ControllerFixture()
        defer { fixture.remove() }
        let kept = try fixture.define("kept")
        let failing = try fixture.define("failing")
        let idle = try fixture.define("idle")
        _ = try await kept.perform(.start)
        _ = try await failing.perform(.start)
        _ = try await failing.perform(.pause)
        try #require(fixture.launcher.latest).script(.suspend, .fail(ScriptedFailure("disk full")))
        await fixture.registry.shutDown(suspending: true)
        #expect(kept.state == .suspended && kept.info.reason == "suspended because apusd stopped")
        #expect(fixture.savedStateExists(of: kept))
        #expect(failing.state == .inactive && failing.info.reason == "stopped because apusd stopped")
        #expect(!fixture.savedStateExists(of: failing) && fixture.launcher.latest?.hasEnded == true)
        #expect(idle.state == .inactive && idle.info.reason == nil)
        #expect(fixture.budget.committedMiB == 0)
    }
}
