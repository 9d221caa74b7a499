import ApusCore
import ApusKVM
import Testing

/// KVM_IOEVENTFD through KVMIOEventFD: matching writes bump the counter without leaving KVM_RUN; a write of another
/// value, or any write after `detach`, is an ordinary MMIO exit again.
@Suite struct KVMIOEventFDTests {
    @Test func matchingWritesStayInTheKernelAndDetachRestoresExits() throws {
        // mov word [fs:0x10], 2  (three times); mov word [fs:0x10], 5; mov word [fs:0x10], 2; hlt
        let matching: [UInt8] = [0x64, 0xC7, 0x06, 0x10, 0x00, 0x02, 0x00]
        let other: [UInt8] = [0x64, 0xC7, 0x06, 0x10, 0x00, 0x05, 0x00]
        let code = matching + matching + matching + other + matching + [0xF4]
        guard let t = try KVMTestMachine.make("ioeventfd", code: code) else { return }
        var special = try t.vcpu.specialRegisters()
        special.fs = Segment(base: 0xD000_0000, limit: 0xFFFF, selector: 0, type: 3)
        try t.vcpu.setSpecialRegisters(special)
        let doorbell: KVMIOEventFD
        do {
            doorbell = try KVMIOEventFD(machine: t.machine, at: .mmio(GuestAddress(0xD000_0010)), length: 2,
                                        matching: 2)
        } catch {
            print("KVMIOEventFDTests: skipped, this host's KVM refuses KVM_IOEVENTFD: \(error)")
            return
        }
        #expect(doorbell.consume() == 0, "nothing written yet")

        let first = try t.vcpu.run().mmio()
        #expect(first.address == GuestAddress(0xD000_0010) && first.size == 2 && first.direction == .write)
        #expect(first.data[0] == 5, "the first exit is the non-matching write")
        #expect(doorbell.consume() == 3, "the three matching writes went to the eventfd")
        #expect(doorbell.consume() == 0, "reading the counter resets it")

        doorbell.detach()
        #expect(!doorbell.isAttached)
        let after = try t.vcpu.run().mmio()
        #expect(after.address == GuestAddress(0xD000_0010) && after.data[0] == 2, "detached: the write exits again")
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT at the end"); return }
        #expect(doorbell.consume() == 0)
    }
}
