import ApusCore
import Foundation

/// Runs cases in ring 3 on one backend. Each case is entered by the ring-0 IRETQ at `UserModeLayout.trampoline`
/// from a frame the runner writes on the kernel stack, and ends in a trap: the HLT the runner appends (#GP at CPL3),
/// or an earlier exception, INT n or SYSCALL. The gate's ring-0 HLT stops the vCPU with the user's registers intact
/// and the exception frame on the kernel stack, which is all the outcome needs; at CPL0 only the IRETQ and the HLT
/// run, which matters on hosts whose KVM emulates ring 0.
final class UserModeRunner {
    let name: String
    private let memory: GuestMemory
    private let vcpu: any VCPUBackend
    /// The ring-0 state every case starts from (descriptor tables, control registers).
    let special: SpecialRegisters
    /// Set when a case ended other than in a ring-0 stub, so the vCPU may still be in ring 3: the next case first
    /// restores the ring-0 state (the usual path never needs the extra KVM_SET_SREGS).
    private var needsReset = false
    /// The code page is all HLT but for the last case's bytes, which the next case overwrites.
    private var lastCodeLength = 0x2000

    /// The descriptor tables a segment load may write (accessed bits): restored before and hashed after every case,
    /// with the segment registers reset, when the runner has SegmentTables.
    private let segmentTables: Bool

    init(_ hypervisor: any Hypervisor, segmentTables: Bool = false) throws {
        name = hypervisor.name
        self.segmentTables = segmentTables
        memory = try GuestMemory(size: UserModeLayout.memorySize)
        vcpu = try hypervisor.makeMachine(memory: memory, options: MachineOptions()).makeVCPU(index: 0)
        special = try UserModeLayout.install(into: memory, segmentTables: segmentTables)
        try vcpu.setSpecialRegisters(special)
        try vcpu.setMSRs([MSR.star: UserModeLayout.star, MSR.lstar: UserModeLayout.syscallStub,
                          MSR.sfmask: UserModeLayout.syscallFlagMask])
    }

    func run(_ userCase: UserCase) throws -> UserOutcome {
        // Raw-buffer writes: the generic Collection path copies byte by byte, which dominates a debug build.
        try memory.fill(0xF4, at: GuestAddress(UserModeLayout.codeBase), count: max(lastCodeLength, userCase.code.count) + 16)
        try userCase.code.withUnsafeBytes { try memory.write($0, at: GuestAddress(UserModeLayout.codeBase)) }
        lastCodeLength = userCase.code.count
        try UserModeLayout.pattern.withUnsafeBytes { pattern in
            for page in UserModeLayout.writablePages { try memory.write(pattern, at: GuestAddress(page)) }
        }
        let frame: [UInt64] = [UserModeLayout.codeBase, UInt64(UserModeLayout.userCode), userCase.registers.rflags | 2,
                               userCase.userStack, UInt64(UserModeLayout.userData)]
        let frameAddress = UserModeLayout.kernelStackTop - 40
        try memory.write(UserModeLayout.words(frame), at: GuestAddress(frameAddress))
        if segmentTables {
            try memory.write(SegmentTables.gdtBytes, at: GuestAddress(UserModeLayout.gdt))
            try memory.write(SegmentTables.ldtBytes, at: GuestAddress(SegmentTables.ldtBase))
            needsReset = true   // the last case may have left other data segments loaded
        }
        if needsReset {
            try vcpu.setSpecialRegisters(special)
            needsReset = false
        }
        if let fpu = userCase.fpu { try vcpu.setFPU(fpu) }
        var start = userCase.registers
        start.rip = UserModeLayout.trampoline
        start.rsp = frameAddress
        start.rflags = 2
        try vcpu.setRegisters(start)
        for _ in 0..<4 {
            let exit = try vcpu.run()
            switch exit {
            case .halt:
                let outcome = try trap()
                if case .failed = outcome { needsReset = true }
                return outcome
            case .interrupted: continue
            default:
                needsReset = true
                return .failed("exit \(exit.kind)")
            }
        }
        needsReset = true
        return .failed("no trap")
    }

    /// Guest memory after the last case, for explaining a difference.
    func bytes(at address: UInt64, count: Int) throws -> [UInt8] { try memory.readBytes(at: GuestAddress(address), count: count) }

    /// Reads the trap from the stub the vCPU halted in and the frame on the kernel stack.
    private func trap() throws -> UserOutcome {
        let registers = try vcpu.registers()
        let stub = registers.rip &- 1
        if stub == UserModeLayout.syscallStub {
            var user = registers
            user.rip = 0
            return .trapped(Trap(vector: Trap.syscall, errorCode: 0, cr2: 0, registers: user, codeSelector: 0,
                                 stackSelector: 0, memoryHash: try memoryHash()))
        }
        guard stub >= UserModeLayout.vectorStubs, stub < UserModeLayout.syscallStub else {
            return .failed("halted at \(hex(registers.rip)) outside the vector stubs")
        }
        let vector = Int(stub - UserModeLayout.vectorStubs)
        let hasErrorCode = Trap.errorCodeVectors.contains(vector)
        let expectedRSP = UserModeLayout.kernelStackTop - (hasErrorCode ? 48 : 40)
        guard registers.rsp == expectedRSP else {
            return .failed("vector \(vector) with kernel RSP \(hex(registers.rsp)), expected \(hex(expectedRSP))")
        }
        let words = try memory.readBytes(at: GuestAddress(expectedRSP), count: 48)
        func word(_ index: Int) -> UInt64 {
            (0..<8).reversed().reduce(0) { $0 << 8 | UInt64(words[index * 8 + $1]) }
        }
        let base = hasErrorCode ? 1 : 0
        var user = registers
        user.rip = word(base)
        user.rflags = word(base + 2)
        user.rsp = word(base + 3)
        let cr2 = vector == 14 ? try vcpu.specialRegisters().cr2 : 0
        return .trapped(Trap(vector: vector, errorCode: hasErrorCode ? word(0) : 0, cr2: cr2, registers: user,
                             codeSelector: word(base + 1), stackSelector: word(base + 4), memoryHash: try memoryHash(),
                             saveArea: try memory.readBytes(at: GuestAddress(UserModeLayout.data + 0x1000), count: 160)))
    }

    /// Most cases write no page: a page still equal to the pattern (one memcmp) counts as its index alone, which keeps
    /// 100,000 cases fast in a debug build; a changed page is hashed word by word.
    private func memoryHash() throws -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for (number, page) in UserModeLayout.writablePages.enumerated() {
            let host = try memory.hostPointer(for: GuestAddress(page), length: 4096)
            let unchanged = UserModeLayout.pattern.withUnsafeBytes { $0.baseAddress.map { memcmp(host, $0, 4096) == 0 } ?? false }
            if unchanged {
                hash = (hash ^ UInt64(number)) &* 0x100_0000_01B3
                continue
            }
            let words = host.bindMemory(to: UInt64.self, capacity: 512)
            for index in 0..<512 { hash = (hash ^ words[index]) &* 0x100_0000_01B3 }
        }
        if segmentTables {
            let tables = try memory.readBytes(at: GuestAddress(UserModeLayout.gdt), count: SegmentTables.gdtBytes.count)
                + memory.readBytes(at: GuestAddress(SegmentTables.ldtBase), count: SegmentTables.ldtBytes.count)
            for byte in tables { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        }
        return hash
    }
}
