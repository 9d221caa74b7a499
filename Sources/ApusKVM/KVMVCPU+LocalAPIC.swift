import CKVM

extension KVMVCPU {
    /// LVT LINT0 and LINT1 in the LAPIC register page.
    static let lvtLINT0Offset = 0x350
    static let lvtLINT1Offset = 0x360
    static let deliveryExtINT: UInt32 = 0x700
    static let deliveryNMI: UInt32 = 0x400

    /// What PC firmware does before any OS runs and we have no firmware to do: put the LAPIC in "virtual wire" mode,
    /// LINT0 taking the 8259A's interrupts (ExtINT) and LINT1 NMIs. Without it KVM's LAPIC, masked at reset, never
    /// accepts an interrupt from the PIC.
    func configureVirtualWire() throws {
        var lapic = kvm_lapic_state()
        _ = try checked("KVM_GET_LAPIC") { ckvm_get_lapic(fd, &lapic) }
        withUnsafeMutableBytes(of: &lapic) { page in
            page.storeBytes(of: Self.deliveryExtINT, toByteOffset: Self.lvtLINT0Offset, as: UInt32.self)
            page.storeBytes(of: Self.deliveryNMI, toByteOffset: Self.lvtLINT1Offset, as: UInt32.self)
        }
        _ = try checked("KVM_SET_LAPIC") { ckvm_set_lapic(fd, &lapic) }
    }
}
