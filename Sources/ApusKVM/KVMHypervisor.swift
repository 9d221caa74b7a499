public import ApusCore
import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// The KVM backend's entry point: says whether /dev/kvm is usable here and creates machines on it.
public struct KVMHypervisor: Hypervisor {
    public let name = "kvm"
    public let devicePath: String

    /// Capabilities a machine cannot run without, with the reason each is needed.
    static let requiredCapabilities: [(Int32, String)] = [
        (KVM_CAP_USER_MEMORY, "user memory regions"),
        (KVM_CAP_IMMEDIATE_EXIT, "immediate_exit, needed to pause a vCPU without races"),
        (KVM_CAP_SET_TSS_ADDR, "a TSS address, needed on Intel hosts"),
        (KVM_CAP_EXT_CPUID, "KVM_SET_CPUID2"),
    ]

    public init(devicePath: String = "/dev/kvm") {
        self.devicePath = devicePath
    }

    public func availability() -> HypervisorAvailability {
        guard access(devicePath, F_OK) == 0 else {
            return .unusable(reason: "\(devicePath) does not exist (no KVM module loaded, or no hardware virtualization)")
        }
        let system: KVMSystem
        do {
            system = try KVMSystem(path: devicePath)
        } catch KVMError.open(_, let code) where code == EACCES || code == EPERM {
            return .unusable(reason: "\(devicePath) is not accessible to uid \(getuid()) (add the user to the kvm group)")
        } catch {
            return .unusable(reason: "\(error)")
        }
        guard let version = try? system.apiVersion(), version == KVMSystem.expectedAPIVersion else {
            return .unusable(reason: "\(devicePath) speaks an unexpected KVM API version (need \(KVMSystem.expectedAPIVersion))")
        }
        for (capability, purpose) in Self.requiredCapabilities where system.checkExtension(capability) == 0 {
            return .unusable(reason: "KVM lacks \(purpose)")
        }
        return .usable
    }

    /// KVM_CAP_MAX_VCPUS (the API's rule: KVM_CAP_NR_VCPUS when it is 0, and 4 when that is 0 too).
    public func vcpuLimit() -> VCPULimit {
        guard let system = try? KVMSystem(path: devicePath) else {
            return VCPULimit(maximum: 1, reason: "\(devicePath) cannot be opened")
        }
        let recommended = Int(system.checkExtension(KVM_CAP_NR_VCPUS))
        let maximum = Int(system.checkExtension(KVM_CAP_MAX_VCPUS))
        let limit = maximum > 0 ? maximum : (recommended > 0 ? recommended : 4)
        return VCPULimit(maximum: limit, reason: "this host's KVM allows \(limit) vCPUs per VM")
    }

    public func makeMachine(memory: GuestMemory, options: MachineOptions) throws -> any MachineBackend {
        try KVMMachine(system: try KVMSystem(path: devicePath), memory: memory, options: options)
    }
}
