import ApusCore
import ApusKVM
import ApusSoftCPU
import Testing

/// One case per software-CPU bug the CPL3 suite found, with the outcome this host's hardware gave written out, so
/// each stays checked by name even where /dev/kvm is missing (and is re-checked against KVM where it is not).
@Suite struct RegressionCases {
    struct Pair: Sendable { var register: Int; var value: UInt64 }
    struct Expected: Sendable {
        var name: String
        var code: [UInt8]
        var setup: @Sendable (inout Registers) -> Void = { _ in }
        var userStack = UserModeLayout.userStackTop
        var vector: Int
        var errorCode: UInt64 = 0
        var cr2: UInt64 = 0
        /// RIP of the trap, as an offset from the case's first byte.
        var ripOffset: UInt64
        var registers: [Pair] = []
        var rsp = UserModeLayout.userStackTop
        var flags: UInt64?
        /// A page offset range of the second data page the case must leave as the runner's pattern.
        var untouched: Range<Int>?
    }

    static let nonCanonical: UInt64 = 0x0000_8000_0000_0000
    static let base: UInt64 = 0xA000_0000_0000_0003

    static let cases: [Expected] = [
        Expected(name: "an exception from CPL3 reads a supervisor-only IDT", code: X86.ud2, vector: 6, ripOffset: 0),
        Expected(name: "CMPXCHG mismatch leaves a 32-bit register destination whole",
                 code: [0x0F, 0xB1, 0xD1], setup: { $0.rax = 1; $0.rcx = 0xAAAA_BBBB_0000_0002; $0.rdx = 0 },
                 vector: 13, ripOffset: 3, registers: [Pair(register: 0, value: 2), Pair(register: 1, value: 0xAAAA_BBBB_0000_0002)]),
        Expected(name: "a straddling store faults with CR2 at the next page", code: [0x48, 0x89, 0x07],
                 setup: { $0.rdi = UserModeLayout.notPresent - 4 }, vector: 14, errorCode: 6,
                 cr2: UserModeLayout.notPresent, ripOffset: 0),
        Expected(name: "a non-canonical load is #GP(0)", code: [0x48, 0x8B, 0x03], setup: { $0.rbx = nonCanonical },
                 vector: 13, ripOffset: 0),
        Expected(name: "a non-canonical load through RBP is #SS(0)", code: [0x48, 0x8B, 0x45, 0x00],
                 setup: { $0.rbp = nonCanonical }, vector: 12, ripOffset: 0),
        Expected(name: "R12 as a base is not SS-relative", code: [0x49, 0x8B, 0x04, 0x24],
                 setup: { $0.r12 = nonCanonical }, vector: 13, ripOffset: 0),
        Expected(name: "CALL to a non-canonical address faults before pushing", code: [0xFF, 0xD3],
                 setup: { $0.rbx = nonCanonical }, vector: 13, ripOffset: 0),
        Expected(name: "RET to a non-canonical address faults with RSP unchanged", code: [0x53, 0xC3],
                 setup: { $0.rbx = nonCanonical }, vector: 13, ripOffset: 1, rsp: UserModeLayout.userStackTop - 8),
        Expected(name: "POP to an RSP-based operand addresses it with RSP after the increment",
                 code: [0x53, 0x51, 0x8F, 0x04, 0x24, 0x58],   // push rbx; push rcx; pop qword [rsp]; pop rax
                 setup: { $0.rbx = 0x1111_2222_3333_4444; $0.rcx = 0x5555_6666_7777_8888 }, vector: 13, ripOffset: 6,
                 registers: [Pair(register: 0, value: 0x5555_6666_7777_8888)]),
        Expected(name: "IN at CPL3 with IOPL 0 and no I/O bitmap is #GP(0)", code: [0xEC], vector: 13, ripOffset: 0),
        Expected(name: "RDPMC at CPL3 without CR4.PCE is #GP(0)", code: [0x0F, 0x33], vector: 13, ripOffset: 0),
        Expected(name: "ADD to a read-only page faults as a write, flags unchanged", code: [0x01, 0x03],
                 setup: { $0.rbx = UserModeLayout.readOnly; $0.rax = 1; $0.rflags = 0x202 }, vector: 14, errorCode: 7,
                 cr2: UserModeLayout.readOnly, ripOffset: 0, flags: 0x202),
        Expected(name: "LOCK NOP is #UD", code: [0xF0, 0x90], vector: 6, ripOffset: 0),
        Expected(name: "LOCK ADD between registers is #UD", code: [0xF0, 0x48, 0x01, 0xC0], vector: 6, ripOffset: 0),
        Expected(name: "LTR at CPL3 is #GP(0)", code: [0x0F, 0x00, 0xD8], vector: 13, ripOffset: 0),
        Expected(name: "MOV from DR0 at CPL3 is #GP(0)", code: [0x0F, 0x21, 0xC0], vector: 13, ripOffset: 0),
        Expected(name: "IDIV of RDX:RAX = -2^127 by -1 is #DE (it trapped the host process)", code: [0x48, 0xF7, 0xFB],
                 setup: { $0.rdx = 0x8000_0000_0000_0000; $0.rax = 0; $0.rbx = .max }, vector: 0, ripOffset: 0),
        Expected(name: "FXSAVE leaves the reserved bytes 416-463 alone",
                 code: X86.absolute([0x0F, 0xAE], reg: 0, address: UInt32(UserModeLayout.data + 0x1000), wide: false),
                 vector: 13, ripOffset: 8, untouched: 416..<464),
        Expected(name: "an instruction of 15 bytes (14 prefixes) runs",
                 code: [UInt8](repeating: 0x66, count: 14) + [0x90] + X86.ud2, vector: 6, ripOffset: 15),
        Expected(name: "an instruction of 16 bytes is #GP(0) (and a run of prefixes cannot go on forever)",
                 code: [UInt8](repeating: 0x66, count: 15) + [0x90], vector: 13, ripOffset: 0),
        Expected(name: "a 16-byte instruction whose last byte is an immediate is #GP(0)",
                 code: [UInt8](repeating: 0x66, count: 6) + [0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8], vector: 13,
                 ripOffset: 0),
        // x87 cases end with FNSTSW AX; UD2, so the status word is in AX.
        Expected(name: "FPREM with a NaN result keeps C0 and C3 and clears C1 and C2",
                 code: x87([0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xD9, 0xD9, 0xEE, 0xD9, 0xEE, 0xD9, 0xF8]),
                 vector: 6, ripOffset: 14, registers: [Pair(register: 0, value: 0x3101)]),
        Expected(name: "FLD of a denormal m32 with DE unmasked reports DE and still pushes",
                 code: x87([0x68, 0x7D, 0x03, 0x00, 0x00, 0xD9, 0x2C, 0x24, 0xC7, 0x04, 0x24, 0x23, 0x01, 0x00, 0x00,
                            0xD9, 0x04, 0x24]),
                 vector: 6, ripOffset: 20, registers: [Pair(register: 0, value: 0xB882)],
                 rsp: UserModeLayout.userStackTop - 8),
        Expected(name: "FPTAN on an empty ST(0) under a valid ST(7) underflows without an overflow's C1",
                 code: x87([0xD9, 0xE8, 0xD9, 0xF7, 0xD9, 0xF2]),
                 vector: 6, ripOffset: 8, registers: [Pair(register: 0, value: 0x3841)]),
        Expected(name: "FDIVR by zero from a denormal m32 reports ZE without DE",
                 code: x87([0xD9, 0xEE, 0x6A, 0x00, 0xC7, 0x04, 0x24, 0x23, 0x01, 0x00, 0x00, 0xD8, 0x3C, 0x24]),
                 vector: 6, ripOffset: 16, registers: [Pair(register: 0, value: 0x3804)],
                 rsp: UserModeLayout.userStackTop - 8),
    ]

    /// `code`, then FNSTSW AX and UD2.
    static func x87(_ code: [UInt8]) -> [UInt8] { code + [0xDF, 0xE0] + X86.ud2 }

    @Test(arguments: 0..<cases.count)
    func softCPUGivesTheHardwareAnswer(_ index: Int) throws {
        let expected = Self.cases[index]
        var userCase = UserCase(group: "regression", code: expected.code, description: expected.name)
        userCase.registers.rflags = 0x202
        expected.setup(&userCase.registers)
        var runners = [try UserModeRunner(SoftCPUHypervisor())]
        if KVMHypervisor().availability().isUsable { runners.append(try UserModeRunner(KVMHypervisor())) }
        for runner in runners {
            let outcome = try runner.run(userCase)
            guard case .trapped(let trap) = outcome else {
                Issue.record("\(expected.name) on \(runner.name): \(outcome.summary)")
                continue
            }
            let context = "\(expected.name) on \(runner.name): \(trap.summary)"
            #expect(trap.vector == expected.vector, "\(context)")
            #expect(trap.errorCode == expected.errorCode, "\(context)")
            #expect(trap.cr2 == expected.cr2, "\(context)")
            #expect(trap.registers.rip == UserModeLayout.codeBase + expected.ripOffset, "\(context)")
            #expect(trap.registers.rsp == expected.rsp, "\(context)")
            for pair in expected.registers {
                #expect(trap.registers[pair.register] == pair.value, "\(context): r\(pair.register) = \(hex(trap.registers[pair.register]))")
            }
            if let range = expected.untouched {
                let bytes = try runner.bytes(at: UserModeLayout.data + 0x1000 + UInt64(range.lowerBound), count: range.count)
                #expect(bytes == Array(UserModeLayout.pattern[range]), "\(context): bytes \(range) were written")
            }
            if let flags = expected.flags {
                #expect(trap.registers.rflags & UserOutcome.comparedFlags == flags, "\(context): rflags \(hex(trap.registers.rflags))")
            }
        }
    }
}
