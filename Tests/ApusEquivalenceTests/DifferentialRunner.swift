import ApusBoot
import ApusCore

/// How a case ended: at the HLT with these registers, or at another exit.
enum CaseOutcome {
    /// The registers, and a hash of the data page (string instructions write there).
    case halted(Registers, dataHash: UInt64)
    case ended(String)
}

/// Runs one instruction followed by HLT on a backend, in 64-bit long mode at CPL0, from a given register state.
/// One machine and vCPU are reused for every case, as the differential suite runs thousands of them.
final class DifferentialRunner {
    static let codeBase: UInt64 = 0x100000
    /// A page string instructions read and write; filled with the same bytes before every case.
    static let dataPage: UInt64 = 0x200000
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

    private func dataHash() throws -> UInt64 {
        let words = try memory.hostPointer(for: GuestAddress(Self.dataPage), length: 4096)
            .bindMemory(to: UInt64.self, capacity: 512)
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for index in 0..<512 { hash = (hash ^ words[index]) &* 0x100_0000_01B3 }
        return hash
    }

    /// The registers after `code` and a HLT, or a description of the exit that ended the run instead.
    static let dataPattern = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    /// `usesData`: the case reads or writes the data page, so it is reset before and hashed after (skipped otherwise,
    /// which keeps 100,000 cases fast).
    func run(_ code: [UInt8], from registers: Registers, usesData: Bool = false) throws -> CaseOutcome {
        try memory.write(code + [0xF4], at: GuestAddress(Self.codeBase))
        if usesData { try memory.write(Self.dataPattern, at: GuestAddress(Self.dataPage)) }
        var start = registers
        start.rip = Self.codeBase
        start.rsp = 0x80000
        try vcpu.setRegisters(start)
        for _ in 0..<4 {
            let exit = try vcpu.run()
            switch exit {
            case .halt:
                return .halted(try vcpu.registers(), dataHash: usesData ? try dataHash() : 0)
            case .interrupted: continue
            default: return .ended(exit.kind)
            }
        }
        return .ended("no HLT")
    }
}
