public import ApusCore
import ApusKVM
import ApusSoftCPU

/// Which vCPU backend runs a machine.
public enum BackendChoice: String, CaseIterable, Sendable, Codable {
    /// KVM when /dev/kvm is usable, otherwise the software CPU; a Linux kernel also goes to the software CPU when
    /// the KVM here has no hardware virtualization under it (it would emulate the kernel and never finish booting).
    case auto
    case kvm
    case soft

    /// What a choice resolved to, with a note for the user when `auto` passed over a usable KVM.
    public struct Resolution {
        public let hypervisor: any Hypervisor
        public let note: String?
    }

    /// The hypervisor this choice resolves to on this host, or an error saying why it cannot run here.
    /// `runsGuestKernel`: the guest is an operating-system kernel (it runs at CPL0 for long stretches).
    /// `hardwareAssisted` stands in for the host's CPU flags (tests); nil reads them.
    /// `softCPU`: how the software CPU runs code, when it is the one chosen.
    public func resolve(kvmDevicePath: String = "/dev/kvm", runsGuestKernel: Bool = false,
                        hardwareAssisted: Bool? = nil, softCPU: SoftCPUMode = .default) throws -> Resolution {
        let soft = SoftCPUHypervisor(tier: softCPU.tier)
        let kvm = KVMHypervisor(devicePath: kvmDevicePath)
        switch self {
        case .soft:
            return Resolution(hypervisor: soft, note: nil)
        case .kvm:
            if case .unusable(let reason) = kvm.availability() {
                throw VMMError.backendUnavailable(backend: "kvm", reason: reason)
            }
            return Resolution(hypervisor: kvm, note: nil)
        case .auto:
            let kvmUsable = kvm.availability().isUsable
            let assisted = hardwareAssisted ?? HostVirtualization.hardwareAssisted()
            if Self.autoPicksKVM(kvmUsable: kvmUsable, runsGuestKernel: runsGuestKernel, hardwareAssisted: assisted) {
                return Resolution(hypervisor: kvm, note: nil)
            }
            guard kvmUsable else { return Resolution(hypervisor: soft, note: nil) }
            return Resolution(hypervisor: soft, note: """
                the host CPU has no hardware virtualization (no vmx or svm flag), so \(kvmDevicePath) would emulate \
                the guest kernel at a few MIPS and not finish booting it; running on the software CPU instead \
                (--backend kvm forces KVM)
                """)
        }
    }

    /// The rule `auto` follows: KVM when it is usable, unless the guest is a kernel and KVM has no hardware
    /// virtualization under it. HostReport applies the same rule to tell API clients.
    static func autoPicksKVM(kvmUsable: Bool, runsGuestKernel: Bool, hardwareAssisted: Bool) -> Bool {
        kvmUsable && (!runsGuestKernel || hardwareAssisted)
    }
}
