import ApusKVM

/// What this host offers for running machines: which backend "auto" picks, and what KVM can do here.
public struct HostReport: Sendable {
    public var kvmUsable: Bool
    /// Why KVM cannot be used, when it cannot.
    public var kvmUnusableReason: String?
    public var kvmAPIVersion: Int?
    public var kvmCapabilities: [String: Int]
    /// "kvm" or "soft": what `BackendChoice.auto` resolves to now.
    public var defaultBackend: String
    /// "kvm" or "soft": what `BackendChoice.auto` resolves to for a Linux kernel (soft on a KVM without hardware
    /// virtualization under it, which would emulate the kernel).
    public var defaultKernelBackend: String
    /// Whether the host CPU has VT-x or AMD-V, so KVM runs guest kernel code on the CPU.
    public var hardwareAssisted: Bool

    private static func name(kvm: Bool) -> String { kvm ? "kvm" : "soft" }

    public static func probe(kvmDevicePath: String = "/dev/kvm") -> HostReport {
        let kvm = KVMHypervisor(devicePath: kvmDevicePath)
        let availability = kvm.availability()
        let report = availability.isUsable ? kvm.capabilityReport() : nil
        var reason: String?
        if case .unusable(let why) = availability { reason = why }
        let hardwareAssisted = HostVirtualization.hardwareAssisted()
        return HostReport(kvmUsable: availability.isUsable, kvmUnusableReason: reason,
                          kvmAPIVersion: report?.apiVersion, kvmCapabilities: report?.capabilities ?? [:],
                          defaultBackend: name(kvm: BackendChoice.autoPicksKVM(
                              kvmUsable: availability.isUsable, runsGuestKernel: false, hardwareAssisted: hardwareAssisted)),
                          defaultKernelBackend: name(kvm: BackendChoice.autoPicksKVM(
                              kvmUsable: availability.isUsable, runsGuestKernel: true, hardwareAssisted: hardwareAssisted)),
                          hardwareAssisted: hardwareAssisted)
    }
}
