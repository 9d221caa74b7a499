import CKVM

/// Machine-wide state KVM keeps in the kernel: with an in-kernel irqchip, the two 8259 PICs and the IOAPIC (their
/// masks, pending and in-service bits, redirection table); always, the guest's kvmclock.
extension KVMMachine {
    static let clockKey = "kvm.clock"
    /// KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC.
    static let irqchips: [(id: UInt32, key: String)] = [
        (UInt32(KVM_IRQCHIP_PIC_MASTER), "kvm.pic_master"),
        (UInt32(KVM_IRQCHIP_PIC_SLAVE), "kvm.pic_slave"),
        (UInt32(KVM_IRQCHIP_IOAPIC), "kvm.ioapic"),
    ]

    public func captureMachineState() throws -> [String: [UInt8]] {
        var state: [String: [UInt8]] = [:]
        state[Self.clockKey] = KVMStateBlob.bytes(of: try clock())
        if options.interruptController == .full {
            for chip in Self.irqchips {
                var value = kvm_irqchip()
                value.chip_id = chip.id
                _ = try checked("KVM_GET_IRQCHIP") { ckvm_get_irqchip(fd, &value) }
                state[chip.key] = KVMStateBlob.bytes(of: value)
            }
        }
        return state
    }

    public func restoreMachineState(_ state: [String: [UInt8]]) throws {
        guard !state.isEmpty else { return }
        if options.interruptController == .full {
            for chip in Self.irqchips {
                var value = kvm_irqchip()
                try KVMStateBlob.load(kvm_irqchip.self, from: state[chip.key], name: chip.key, into: &value)
                guard value.chip_id == chip.id else {
                    throw KVMError.badSavedState("\(chip.key) holds the state of irqchip \(value.chip_id)")
                }
                _ = try checked("KVM_SET_IRQCHIP") { ckvm_set_irqchip(fd, &value) }
            }
        }
        var clock: UInt64 = 0
        try KVMStateBlob.load(UInt64.self, from: state[Self.clockKey], name: "guest clock", into: &clock)
        try setClock(clock)
    }
}
