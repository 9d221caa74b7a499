public import ApusCore
import ApusKVM

/// Which vCPU backend runs a machine.
public enum BackendChoice: String, CaseIterable, Sendable, Codable {
    /// KVM when /dev/kvm is usable; otherwise the software CPU, once it lands (issue 3).
    case auto
    case kvm

    /// The hypervisor this choice resolves to on this host, or an error saying why it cannot run here.
    public func resolve(kvmDevicePath: String = "/dev/kvm") throws -> any Hypervisor {
        let kvm = KVMHypervisor(devicePath: kvmDevicePath)
        if case .unusable(let reason) = kvm.availability() {
            throw VMMError.backendUnavailable(backend: "kvm", reason: reason)
        }
        return kvm
    }
}
