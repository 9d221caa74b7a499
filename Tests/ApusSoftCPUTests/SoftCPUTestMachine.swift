import ApusBoot
import ApusCore
import ApusSoftCPU

/// A 4 MiB software machine entered in 64-bit long mode at 0x100000 with `code` there, the loader's identity map,
/// and an IDT at 0x3000 (empty unless a test installs gates).
struct SoftCPUTestMachine {
    let memory: GuestMemory
    let vcpu: any VCPUBackend
    static let codeBase: UInt64 = 0x100000
    static let idtBase: UInt64 = 0x3000

    init(code: [UInt8], idtLimit: UInt16 = 0) throws {
        memory = try GuestMemory(size: 4 << 20)
        try memory.write(code, at: GuestAddress(Self.codeBase))
        let machine = try SoftCPUHypervisor().makeMachine(memory: memory, options: MachineOptions())
        vcpu = try machine.makeVCPU(index: 0)
        var (registers, special) = try EntryState.longMode(entry: Self.codeBase, stack: 0x80000, memory: memory)
        special.idt = DescriptorTable(base: Self.idtBase, limit: idtLimit)
        registers.rflags = 2
        try vcpu.setSpecialRegisters(special)
        try vcpu.setRegisters(registers)
    }

    /// Points vector `vector` at `handler` through a 64-bit interrupt gate using the loader's code selector 0x08.
    func installGate(vector: Int, handler: UInt64) throws {
        let low = (handler & 0xFFFF) | UInt64(0x08) << 16 | UInt64(0x8E) << 40 | ((handler >> 16) & 0xFFFF) << 48
        try memory.write(low, at: GuestAddress(Self.idtBase + UInt64(vector) * 16))
        try memory.write(handler >> 32, at: GuestAddress(Self.idtBase + UInt64(vector) * 16 + 8))
    }

    /// Runs until the guest halts, answering port reads with `portValue`; returns every exit kind seen.
    @discardableResult
    func runToHalt(portValue: UInt8 = 0) throws -> [String] {
        var kinds: [String] = []
        for _ in 0..<1000 {
            let exit = try vcpu.run()
            kinds.append(exit.kind)
            switch exit {
            case .portIO(let access) where access.direction == .read:
                for i in 0..<access.data.count { access.data[i] = portValue }
            case .portIO, .mmio: continue
            default: return kinds
            }
        }
        return kinds
    }
}
