import ApusCore
import ApusSoftCPU
import Testing

/// Instructions a kernel uses once at start-up, which Linux's boot on the software CPU needed: LRETQ to reload CS,
/// LTR/STR for its TSS, the debug registers, and prefetch hints.
@Suite struct SystemInstructionTests {
    @Test func farReturnReloadsCSAndRIP() throws {
        // lea rax, [rip + 6]; push 0x08; push rax; lretq; hlt; target: mov ebx, 0x1234; hlt
        let machine = try SoftCPUTestMachine(code: [0x48, 0x8D, 0x05, 0x06, 0x00, 0x00, 0x00, 0x6A, 0x08, 0x50,
                                                    0x48, 0xCB, 0xF4, 0xBB, 0x34, 0x12, 0x00, 0x00, 0xF4])
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(registers.rbx == 0x1234)
        #expect(registers.rsp == 0x80000, "both pushes were popped")
        #expect(try machine.vcpu.specialRegisters().cs.selector == 0x08)
    }

    @Test func loadTaskRegisterMarksTheTSSBusy() throws {
        // mov ax, 0x18; ltr ax; str ecx; hlt
        let machine = try SoftCPUTestMachine(code: [0x66, 0xB8, 0x18, 0x00, 0x0F, 0x00, 0xD8, 0x0F, 0x00, 0xC9, 0xF4])
        let gdt: UInt64 = 0x6000, tss: UInt64 = 0x7000
        let tssLow: UInt64 = 0x67 | (tss & 0xFF_FFFF) << 16 | 0x89 << 40 | ((tss >> 24) & 0xFF) << 56
        for (index, value) in [0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, tssLow, 0].enumerated() {
            try machine.memory.write(UInt64(value), at: GuestAddress(gdt + UInt64(index) * 8))
        }
        var special = try machine.vcpu.specialRegisters()
        special.gdt = DescriptorTable(base: gdt, limit: 0x27)
        try machine.vcpu.setSpecialRegisters(special)
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.registers().rcx == 0x18)
        let tr = try machine.vcpu.specialRegisters().tr
        #expect(tr.base == tss && tr.type == 0xB && tr.selector == 0x18)
        let typeByte = try machine.memory.read(UInt8.self, at: GuestAddress(gdt + 0x18 + 5))
        #expect(typeByte == 0x8B, "the descriptor in the GDT is busy now")
    }

    @Test func debugRegistersKeepTheirValues() throws {
        // mov rax, 1; mov dr0, rax; mov rbx, dr0; mov rcx, dr6; hlt
        let machine = try SoftCPUTestMachine(code: [0x48, 0xC7, 0xC0, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x23, 0xC0,
                                                    0x0F, 0x21, 0xC3, 0x0F, 0x21, 0xF1, 0xF4])
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(registers.rbx == 1)
        #expect(registers.rcx == 0xFFFF_0FF0)
    }

    @Test func prefetchHintsDoNothing() throws {
        // prefetcht0 [rax]; prefetchw [rax]; hlt
        let machine = try SoftCPUTestMachine(code: [0x0F, 0x18, 0x08, 0x0F, 0x0D, 0x08, 0xF4])
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.registers().rip == 0x100007)
    }

    @Test func verwAndVerrReportAccessInZF() throws {
        // mov ax, 0x10; verw ax; setz bl; mov ax, 0x08; verw ax; setz cl; verr ax; setz dl; hlt
        let machine = try SoftCPUTestMachine(code: [0x66, 0xB8, 0x10, 0x00, 0x0F, 0x00, 0xE8, 0x0F, 0x94, 0xC3,
                                                    0x66, 0xB8, 0x08, 0x00, 0x0F, 0x00, 0xE8, 0x0F, 0x94, 0xC1,
                                                    0x0F, 0x00, 0xE0, 0x0F, 0x94, 0xC2, 0xF4])
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(registers.rbx & 0xFF == 1, "the data segment is writable")
        #expect(registers.rcx & 0xFF == 0, "a code segment is never writable")
        #expect(registers.rdx & 0xFF == 1, "the loader's code segment is readable")
    }
}
