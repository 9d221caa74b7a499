import ApusCore
import ApusKVM

/// A 2 MiB KVM machine with hand-assembled real-mode code at 0x8000, or nil (with the reason printed) when
/// /dev/kvm is not usable here.
func kvmMachine(code: [UInt8], test: String) throws -> (KVMMachine, any VCPUBackend)? {
    let hypervisor = KVMHypervisor()
    if case .unusable(let reason) = hypervisor.availability() {
        print("\(test): skipping: \(reason)")
        return nil
    }
    let memory = try GuestMemory(size: 2 << 20)
    try memory.write(code, at: GuestAddress(0x8000))
    let machine = try #require(try hypervisor.makeMachine(memory: memory, options: MachineOptions()) as? KVMMachine)
    let vcpu = try machine.makeVCPU(index: 0)
    var registers = Registers()
    registers.rip = 0x8000
    registers.rsp = 0x7000
    try vcpu.setRegisters(registers)
    var special = try vcpu.specialRegisters()
    special.cs = Segment.realMode(selector: 0, code: true)
    special.ds = Segment.realMode(selector: 0)
    special.ss = special.ds
    try vcpu.setSpecialRegisters(special)
    return (machine, vcpu)
}

import Testing
