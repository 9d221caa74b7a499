import CKVM

extension KVMHypervisor {
    /// The capabilities a user asks about when deciding where to run VMs, by the names KVM's API documentation uses.
    static let reportedCapabilities: [(String, Int32)] = [
        ("KVM_CAP_NR_VCPUS", KVM_CAP_NR_VCPUS),
        ("KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS),
        ("KVM_CAP_NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS),
        ("KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP),
        ("KVM_CAP_SPLIT_IRQCHIP", KVM_CAP_SPLIT_IRQCHIP),
        ("KVM_CAP_IRQFD", KVM_CAP_IRQFD),
        ("KVM_CAP_IOEVENTFD", KVM_CAP_IOEVENTFD),
        ("KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT),
        ("KVM_CAP_XSAVE", KVM_CAP_XSAVE),
        ("KVM_CAP_TSC_CONTROL", KVM_CAP_TSC_CONTROL),
        ("KVM_CAP_ADJUST_CLOCK", KVM_CAP_ADJUST_CLOCK),
        ("KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
    ]

    /// KVM's API version and selected KVM_CHECK_EXTENSION answers, or nil when the device cannot be opened.
    public func capabilityReport() -> (apiVersion: Int, capabilities: [String: Int])? {
        guard let system = try? KVMSystem(path: devicePath), let version = try? system.apiVersion() else { return nil }
        var capabilities: [String: Int] = [:]
        for (name, capability) in Self.reportedCapabilities {
            capabilities[name] = Int(system.checkExtension(capability))
        }
        return (Int(version), capabilities)
    }
}
