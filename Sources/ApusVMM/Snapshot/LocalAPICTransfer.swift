import ApusCore
import ApusDevices

/// A snapshot holds every vCPU's local APIC as the same `LocalAPICState` (device `lapicN`) whichever backend ran it.
/// The software CPU's APICs are VMM devices and save themselves; a backend that keeps its LAPICs (KVM) hands each
/// one's register page with its vCPU, and these two steps translate between the two.
enum LocalAPICTransfer {
    static func slotName(_ index: Int) -> String { "lapic\(index)" }

    /// On suspend: each vCPU's LAPIC page becomes its `lapicN` device and leaves the vCPU's state.
    static func extract(from vcpus: inout [CPUState], into devices: inout [String: SavedDevice]) {
        for index in vcpus.indices {
            guard let page = vcpus[index].localAPICPage else { continue }
            devices[slotName(index)] = .localAPIC(LocalAPICState(
                registerPage: page, baseMSR: vcpus[index].specialRegisters.apicBase,
                tscDeadline: vcpus[index].msrs[MSR.tscDeadline] ?? 0))
            vcpus[index].localAPICPage = nil
        }
    }

    /// On restore onto a backend that keeps its LAPICs: each `lapicN` device becomes vCPU N's LAPIC page (and its
    /// TSC deadline). A snapshot of a machine with an interrupt controller lacking one is refused.
    static func inject(from devices: [String: SavedDevice], into vcpus: inout [CPUState]) throws {
        for index in vcpus.indices {
            guard case .localAPIC(let apic) = devices[slotName(index)] else {
                throw SnapshotError.corrupt("it has no local APIC state for vCPU \(index)")
            }
            guard apic.lvt.count == 6 else {
                throw SnapshotError.corrupt("the local APIC state of vCPU \(index) is malformed")
            }
            vcpus[index].localAPICPage = apic.registerPage
            if apic.timerMode == .tscDeadline { vcpus[index].msrs[MSR.tscDeadline] = apic.tscDeadline }
        }
    }
}
