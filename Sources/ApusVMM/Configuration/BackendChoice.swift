public import ApusCore
import ApusKVM
import ApusSoftCPU

/// Which vCPU backend runs a machine.
public enum BackendChoice: String, CaseIterable, Sendable, Codable {
    /// KVM when /dev/kvm is usable, otherwise the software CPU.
    case auto
    case kvm
    case soft

    /// The hypervisor this choice resolves to on this host, or an error saying why it cannot run here.
    public func resolve(kvmDevicePath: String = "/dev/kvm") throws -> any Hypervisor {
        let kvm = KVMHypervisor(devicePath: kvmDevicePath)
        switch self {
        case .soft:
            return SoftCPUHypervisor()
        case .kvm:
            if case .unusable(let reason) = kvm.availability() {
                throw VMMError.backendUnavailable(backend: "kvm", reason: reason)
            }
            return kvm
        case .auto:
            return kvm.availability().isUsable ? kvm : SoftCPUHypervisor()
        }
    }
}
