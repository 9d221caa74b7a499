import ApusCore
import CKVM

/// The in-kernel LAPIC's register page (KVM_GET_LAPIC / KVM_SET_LAPIC: `kvm_lapic_state`, 1 KiB in the xAPIC MMIO
/// layout). KVM_CAP_X2APIC_API is not enabled, so KVM keeps the ID register in the xAPIC format (ID in bits 31:24)
/// even in x2APIC mode, and reports the timer's current count as it stands when the page is read.
extension KVMVCPU {
    func localAPICPage() throws -> APICRegisterPage {
        var lapic = kvm_lapic_state()
        _ = try checked("KVM_GET_LAPIC") { ckvm_get_lapic(fd, &lapic) }
        let bytes = withUnsafeBytes(of: &lapic) { Array($0.prefix(APICRegisterPage.size)) }
        guard let page = APICRegisterPage(bytes: bytes) else {
            throw KVMError.badSavedState("KVM_GET_LAPIC returned \(bytes.count) bytes")
        }
        return page
    }

    /// Needs IA32_APIC_BASE (the special registers) set first: KVM reads the page in the mode that MSR selects.
    func setLocalAPICPage(_ page: APICRegisterPage) throws {
        var lapic = kvm_lapic_state()
        guard MemoryLayout<kvm_lapic_state>.size == APICRegisterPage.size else {
            throw KVMError.badSavedState("this kernel's LAPIC page is \(MemoryLayout<kvm_lapic_state>.size) bytes")
        }
        withUnsafeMutableBytes(of: &lapic) { $0.copyBytes(from: page.bytes) }
        _ = try checked("KVM_SET_LAPIC") { ckvm_set_lapic(fd, &lapic) }
    }
}
