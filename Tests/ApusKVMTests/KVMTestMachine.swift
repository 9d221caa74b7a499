import ApusCore
import ApusKVM

/// A 2 MiB KVM machine with hand-assembled code loaded and one vCPU in real mode at 0:`address`, created on the
/// calling thread. `make` returns nil after printing why when /dev/kvm is not usable here, so the test passes.
struct KVMTestMachine {
    static let codeAddress: UInt64 = 0x8000

    let machine: KVMMachine
    let vcpu: any VCPUBackend
    var memory: GuestMemory { machine.memory }

    static func skipReason(_ test: String) -> String? {
        guard case .unusable(let reason) = KVMHypervisor().availability() else { return nil }
        print("\(test): skipped, KVM is not usable here: \(reason)")
        return reason
    }

    static func make(_ test: String, code: [UInt8], at address: UInt64 = codeAddress,
                     options: MachineOptions = MachineOptions()) throws -> KVMTestMachine? {
        if skipReason(test) != nil { return nil }
        let memory = try GuestMemory(size: 2 << 20)
        try memory.write(code, at: GuestAddress(address))
        guard let machine = try KVMHypervisor().makeMachine(memory: memory, options: options) as? KVMMachine else {
            throw TestFailure("KVMHypervisor made something other than a KVMMachine")
        }
        let vcpu = try machine.makeVCPU(index: 0)
        var special = try vcpu.specialRegisters()
        special.cs = Segment.realMode(selector: 0, code: true)
        special.ds = Segment.realMode(selector: 0)
        special.es = Segment.realMode(selector: 0)
        special.ss = Segment.realMode(selector: 0)
        try vcpu.setSpecialRegisters(special)
        var registers = Registers()
        registers.rip = address
        registers.rsp = 0x7000
        try vcpu.setRegisters(registers)
        return KVMTestMachine(machine: machine, vcpu: vcpu)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension VCPUExit {
    /// The port access, or a thrown failure naming the exit that came instead.
    func portIO() throws -> PortIOExit {
        guard case .portIO(let access) = self else { throw TestFailure("expected a port I/O exit, got \(kind)") }
        return access
    }

    func mmio() throws -> MMIOExit {
        guard case .mmio(let access) = self else { throw TestFailure("expected an MMIO exit, got \(kind)") }
        return access
    }
}

extension PortIOExit {
    /// The little-endian value of access `index` of a (possibly repeated) access.
    func value(_ index: Int = 0) -> UInt64 {
        (0..<size).reduce(0) { $0 | UInt64(data[index * size + $1]) << (8 * UInt64($1)) }
    }
}
