import ApusCore
import ApusSoftCPU
import Testing

/// The decode cache must never run stale bytes: writes through another linear mapping of the same physical page, and
/// writes by the VMM between runs, are seen by the next instruction fetched from there. (guests/selfmodify.S covers
/// the guest's own store, string and atomic paths on every backend.)
@Suite struct DecodeCacheTests {
    @Test func aStoreThroughAnAliasMappingInvalidatesTheCode() throws {
        // Two passes of: mov ebx, 0x11111111; mov eax, 0x22222222; mov [alias of that first immediate], eax.
        // The second pass must load 0x22222222, written through virtual 0xC800000 + 0x100006 = physical 0x100006.
        let code: [UInt8] = [
            0xB9, 0x02, 0x00, 0x00, 0x00,                     // mov ecx, 2
            0xBB, 0x11, 0x11, 0x11, 0x11,                     // mov ebx, 0x11111111   (immediate at +6)
            0xB8, 0x22, 0x22, 0x22, 0x22,                     // mov eax, 0x22222222
            0x89, 0x04, 0x25, 0x06, 0x00, 0x90, 0x0C,         // mov [0xC900006], eax
            0xFF, 0xC9,                                       // dec ecx
            0x75, 0xEB,                                       // jnz +5
            0xF4,                                             // hlt
        ]
        let machine = try SoftCPUTestMachine(code: code)
        // The loader's first page directory (0xB000) maps 2 MiB pages; entry 100 (virtual 200 MiB) now aliases
        // physical 0.
        try machine.memory.write(UInt64(0x83), at: GuestAddress(0xB000 + 100 * 8))
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.registers().rbx == 0x2222_2222)
    }

    @Test func codeTheVMMRewritesBetweenRunsIsWhatRuns() throws {
        // l: mov ebx, imm32; out 0x80, al; jmp l — the VMM changes the immediate while the vCPU is out.
        let machine = try SoftCPUTestMachine(code: [0xBB, 0x11, 0x11, 0x11, 0x11, 0xE6, 0x80, 0xEB, 0xF7])
        for expected: UInt64 in [0x1111_1111, 0x1111_1111, 0x3333_3333, 0x4444_4444] {
            if expected > 0x1111_1111 {
                try machine.memory.write(UInt32(expected), at: GuestAddress(SoftCPUTestMachine.codeBase + 1))
            }
            guard case .portIO(let access) = try machine.vcpu.run(), access.port == 0x80 else {
                Issue.record("expected the port write")
                return
            }
            #expect(try machine.vcpu.registers().rbx == expected)
        }
    }

    @Test func cachedCodeStillFaultsOnceItsMappingIsGone() throws {
        // Calls a routine through an alias mapping (cached by physical address), unmaps the alias, INVLPG, and calls
        // it again: the fetch must raise #PF at the alias address although the physical bytes are cached.
        var code: [UInt8] = [
            0xB8, 0x20, 0x00, 0x90, 0x0C,                                   // mov eax, 0xC900020 (alias of +0x20)
            0xFF, 0xD0,                                                     // call rax
            0x48, 0xC7, 0x04, 0x25, 0x20, 0xB3, 0x00, 0x00, 0, 0, 0, 0,     // mov qword [0xB320], 0
            0x0F, 0x01, 0x38,                                               // invlpg [rax]
            0xFF, 0xD0,                                                     // call rax: #PF
            0xF4,                                                           // hlt (not reached)
        ]
        code += [UInt8](repeating: 0x90, count: 0x20 - code.count)
        code += [0xFF, 0xC3, 0xC3]                                          // +0x20: inc ebx; ret
        code += [UInt8](repeating: 0x90, count: 0x30 - code.count) + [0xF4] // +0x30: the #PF handler: hlt
        let machine = try SoftCPUTestMachine(code: code, idtLimit: 0xFFF)
        try machine.installGate(vector: 14, handler: SoftCPUTestMachine.codeBase + 0x30)
        try machine.memory.write(UInt64(0x83), at: GuestAddress(0xB000 + 100 * 8))   // virtual 200 MiB -> physical 0
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(registers.rbx == 1)
        #expect(registers.rip == SoftCPUTestMachine.codeBase + 0x31)
        #expect(try machine.vcpu.specialRegisters().cr2 == 0xC90_0020)
        // The frame: error code (not present), then the RIP of the fetch that faulted.
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(registers.rsp)) & 1 == 0)
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(registers.rsp + 8)) == 0xC90_0020)
    }
}
