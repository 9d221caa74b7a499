import ApusBoot
import ApusCore
import Foundation

enum VCPUEntry: Sendable {
    /// The bootstrap processor, at the loader's entry state.
    case boot(BootPlan)
    /// An application processor: it waits for INIT and a start-up IPI from its local APIC, as at power-on.
    case awaitStartup
    case restore(CPUState)

    /// vCPU 0 boots; the others wait until the guest starts them.
    static func freshBoot(_ plan: BootPlan, vcpuCount: Int) -> [VCPUEntry] {
        [.boot(plan)] + Array(repeating: .awaitStartup, count: max(vcpuCount - 1, 0))
    }
}

/// The loop one vCPU thread runs: enter the guest, route the exit, repeat — until the machine stops.
/// This is the path of every exit: `run()` -> `ExitDispatcher` -> device -> `run()` again.
struct VCPURunner: Sendable {
    let index: Int
    /// How many vCPUs the machine has: none enters the guest before all exist.
    let vcpuCount: Int
    let backend: any MachineBackend
    let dispatcher: ExitDispatcher
    let control: RunControl
    /// Where the vCPU starts: a fresh boot, or the state a suspend captured.
    let entry: VCPUEntry
    let statistics: ExitStatisticsBox

    /// Starts the dedicated OS thread (never a Swift concurrency task: `run()` blocks inside the kernel).
    func spawn() {
        control.expectVCPU()
        let thread = Thread { self.threadMain() }
        thread.name = "apus-vcpu-\(index)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func threadMain() {
        var halted = false
        do {
            let vcpu = try backend.makeVCPU(index: index)
            control.register(vcpu.kicker, for: index)
            switch entry {
            case .boot(let plan):
                try vcpu.setSpecialRegisters(plan.specialRegisters)
                try vcpu.setRegisters(plan.registers)
            case .awaitStartup:
                try vcpu.awaitStartup()
            case .restore(let state):
                try vcpu.restoreState(state)
            }
            if control.vcpuCreated(expecting: vcpuCount) == .proceed { halted = try loop(vcpu) }
        } catch {
            control.finish(.failed("vCPU \(index): \(error)"))
        }
        control.vcpuExited(halted: halted)
    }

    /// Returns true when the vCPU halted for good, false when it was told to stop.
    private func loop(_ vcpu: any VCPUBackend) throws -> Bool {
        var counts = ExitStatistics()
        var unpublished = 0
        defer { statistics.publish(counts) }
        while true {
            if control.attention.load(ordering: .acquiring) {
                statistics.publish(counts)
                if control.checkpoint(index: index, vcpu: vcpu) == .stop { return false }
            }
            let exit = try vcpu.run()
            counts.count(exit)
            // Published in batches so the owner (the daemon's metrics) sees live counts without a lock per exit.
            unpublished &+= 1
            if unpublished == ExitStatistics.publishInterval {
                statistics.publish(counts)
                unpublished = 0
            }
            switch exit {
            case .portIO(let access):
                try dispatcher.dispatch(access)
            case .mmio(let access):
                try dispatcher.dispatch(access)
            case .interrupted:
                continue
            case .halt:
                return true
            case .shutdown:
                control.finish(.tripleFault(vcpu: index))
            case .systemEvent(let event):
                control.finish(.systemEvent(event))
            case .internalError(let message):
                let rip = (try? vcpu.registers().rip).map { " at rip 0x" + String($0, radix: 16) } ?? ""
                control.finish(.failed("vCPU \(index): internal error exit\(rip): \(message)"))
            case .failedEntry(let message):
                control.finish(.failed("vCPU \(index): the CPU refused to enter the guest: \(message)"))
            }
        }
    }
}
