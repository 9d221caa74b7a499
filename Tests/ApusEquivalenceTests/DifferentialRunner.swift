import ApusBoot
import ApusCore

/// How a case ended: at the HLT with these registers, or at another exit.
enum CaseOutcome {
    case halted(Registers)
    case ended(String)
}

/// Runs one instruction followed by HLT on a backend, in 64-bit long mode at CPL0, from a given register state.
/// One machine and vCPU are reused for every case, as the differential suite runs thousands of them.
final class DifferentialRunner {
    static let codeBase: UInt64 = 0x100000
    let name: String
    private let memory: GuestMemory
    private let vcpu: any VCPUBackend
    private let entry: (Registers, SpecialRegisters)

    init(_ hypervisor: any Hypervisor) throws {
        name = hypervisor.name
        memory = try GuestMemory(size: 4 << 20)
        vcpu = try hypervisor.makeMachine(memory: memory, options: MachineOptions()).makeVCPU(index: 0)
        entry = try EntryState.longMode(entry: Self.codeBase, stack: 0x80000, memory: memory)
        try vcpu.setSpecialRegisters(entry.1)
    }

    /// The registers after `code` and a HLT, or a description of the exit that ended the run instead.
    func run(_ code: [UInt8], from registers: Registers) throws -> CaseOutcome {
        try memory.write(code + [0xF4], at: GuestAddress(Self.codeBase))
        var start = registers
        start.rip = Self.codeBase
        start.rsp = 0x80000
        try vcpu.setRegisters(start)
        for _ in 0..<4 {
            let exit = try vcpu.run()
            switch exit {
            case .halt: return .halted(try vcpu.registers())
            case .interrupted: continue
            default: return .ended(exit.kind)
            }
        }
        return .ended("no HLT")
    }
}
