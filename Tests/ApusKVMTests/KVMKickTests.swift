import ApusCore
import ApusKVM
import Foundation
import Synchronization
import Testing

/// Kicks from another thread end `run()` with `.interrupted`. The vCPU runs on its own thread so a lost kick fails
/// the test after a bounded wait instead of hanging the suite (a liveness bound, not a timing assertion).
@Suite struct KVMKickTests {
    static let patienceSeconds = 10

    /// What the vCPU thread reports back.
    final class Report: Sendable {
        let ready = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let kicker = Mutex<(any VCPUKicker)?>(nil)
        let exits = Mutex<[String]>([])
        let failure = Mutex<String?>(nil)

        func record(_ exit: VCPUExit) { exits.withLock { $0.append(exit.kind) } }
    }

    /// Creates a machine running `code` on a new thread, runs it `runs` times, and returns once it is running.
    static func startVCPUThread(code: [UInt8], options: MachineOptions, runs: Int,
                                kickBeforeSecondRun: Bool = false) -> Report {
        let report = Report()
        let thread = Thread {
            do {
                guard let t = try KVMTestMachine.make("kick", code: code, options: options) else { return }
                report.kicker.withLock { $0 = t.vcpu.kicker }
                report.ready.signal()
                for run in 0..<runs {
                    // A kick made before run() is entered must not be lost.
                    if kickBeforeSecondRun && run == 1 { t.vcpu.kicker.kick() }
                    report.record(try t.vcpu.run())
                }
            } catch {
                report.failure.withLock { $0 = "\(error)" }
                report.ready.signal()
            }
            report.finished.signal()
        }
        thread.start()
        return report
    }

    func kickAndWait(_ report: Report) -> Bool {
        guard report.ready.wait(timeout: .now() + .seconds(Self.patienceSeconds)) == .success else {
            Issue.record("the vCPU thread never started")
            return false
        }
        if let failure = report.failure.withLock({ $0 }) {
            Issue.record("vCPU thread failed: \(failure)")
            return false
        }
        // Give the guest a moment to be inside KVM_RUN; the test is correct whether or not it got there.
        Thread.sleep(forTimeInterval: 0.05)
        report.kicker.withLock { $0 }?.kick()
        guard report.finished.wait(timeout: .now() + .seconds(Self.patienceSeconds)) == .success else {
            Issue.record("run() did not return within \(Self.patienceSeconds) s after a kick: the kick was lost")
            return false
        }
        return true
    }

    @Test func kickInterruptsASpinningGuestAndAnEarlyKickIsKept() throws {
        if KVMTestMachine.skipReason("kickSpinning") != nil { return }
        // jmp $
        let report = Self.startVCPUThread(code: [0xEB, 0xFE], options: MachineOptions(), runs: 2,
                                          kickBeforeSecondRun: true)
        guard kickAndWait(report) else { return }
        #expect(report.exits.withLock { $0 } == ["interrupted", "interrupted"])
    }

    @Test func kickWakesAGuestHaltedUnderTheInKernelIRQChip() throws {
        if KVMTestMachine.skipReason("kickHalted") != nil { return }
        // cli; hlt: with the in-kernel irqchip KVM sleeps in HLT instead of returning, so only a kick ends run().
        let report = Self.startVCPUThread(code: [0xFA, 0xF4], options: MachineOptions(interruptController: .full),
                                          runs: 1)
        guard kickAndWait(report) else { return }
        #expect(report.exits.withLock { $0 } == ["interrupted"])
    }
}
