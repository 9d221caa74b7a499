import CKVM

/// Machine-wide state KVM keeps in the kernel: the guest's kvmclock. (The interrupt controllers outside the vCPUs are
/// the VMM's own devices, saved as such; each vCPU's LAPIC goes with the vCPU.)
extension KVMMachine {
    static let clockKey = "kvm.clock"

    public func captureMachineState() throws -> [String: [UInt8]] {
        [Self.clockKey: KVMStateBlob.bytes(of: try clock())]
    }

    public func restoreMachineState(_ state: [String: [UInt8]]) throws {
        guard !state.isEmpty else { return }
        var clock: UInt64 = 0
        try KVMStateBlob.load(UInt64.self, from: state[Self.clockKey], name: "guest clock", into: &clock)
        try setClock(clock)
    }
}
