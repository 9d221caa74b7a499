import ApusCore
import ApusSoftCPU
import Testing

/// The CPU model as the guest sees it through CPUID, RDMSR and the instructions it advertises.
@Suite struct CPUModelTests {
    /// Runs 64-bit `code` with #UD and #GP delivered to HLTs at 0x100806 and 0x10080D; returns the halt's RIP.
    func run(_ code: [UInt8]) throws -> (SoftCPUTestMachine, UInt64) {
        let machine = try SoftCPUTestMachine(code: code, idtLimit: 0xFFF)
        for vector in [6, 13] {
            try machine.installGate(vector: vector, handler: 0x100800 + UInt64(vector))
            try machine.memory.write(UInt8(0xF4), at: GuestAddress(0x100800 + UInt64(vector)))
        }
        #expect(try machine.runToHalt() == ["halt"])
        return (machine, try machine.vcpu.registers().rip)
    }

    func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) throws -> (UInt32, UInt32, UInt32, UInt32) {
        // mov eax, leaf; mov ecx, subleaf; cpuid; hlt
        let code: [UInt8] = [0xB8] + withUnsafeBytes(of: leaf.littleEndian, Array.init) + [0xB9]
            + withUnsafeBytes(of: subleaf.littleEndian, Array.init) + [0x0F, 0xA2, 0xF4]
        let (machine, _) = try run(code)
        let r = try machine.vcpu.registers()
        return (UInt32(r.rax), UInt32(r.rbx), UInt32(r.rcx), UInt32(r.rdx))
    }

    @Test func vendorBrandAndLeaves() throws {
        let (maximum, b, c, d) = try cpuid(0)
        let vendor = [b, d, c].flatMap { word in (0..<4).map { UInt8((word >> (8 * $0)) & 0xFF) } }
        #expect(String(decoding: vendor, as: UTF8.self) == "GenuineIntel")
        #expect(maximum >= 0x16)
        var brand: [UInt8] = []
        for leaf: UInt32 in 0x8000_0002...0x8000_0004 {
            let (a, b, c, d) = try cpuid(leaf)
            brand += [a, b, c, d].flatMap { word in (0..<4).map { UInt8((word >> (8 * $0)) & 0xFF) } }
        }
        #expect(String(decoding: brand.prefix { $0 != 0 }, as: UTF8.self) == CPUModel.default.brand)
        let (signature, _, _, _) = try cpuid(1)
        #expect((signature >> 8) & 0xF == 6, "family 6")
        let (_, _, power, _) = try cpuid(6)
        #expect(power & 1 == 0, "no APERF/MPERF claimed")
        let (addressSizes, _, _, _) = try cpuid(0x8000_0008)
        #expect(addressSizes & 0xFF == 40 && (addressSizes >> 8) & 0xFF == 48)
        let (l1Type, _, _, _) = try cpuid(4, 0)
        let (end, _, _, _) = try cpuid(4, 3)
        #expect(l1Type & 0x1F == 1 && end & 0x1F == 0, "leaf 4 lists L1d first and ends with the null type")
    }

    @Test func leaf15GivesLinuxTheTSCFrequency() throws {
        let (denominator, numerator, crystalHz, _) = try cpuid(0x15)
        // Linux: tsc_khz = (ECX / 1000) * EBX / EAX, the product in 32 bits.
        let (product, overflow) = (crystalHz / 1000).multipliedReportingOverflow(by: numerator)
        #expect(!overflow, "Linux's 32-bit product would overflow")
        #expect(UInt64(product / denominator) == CPUModel.default.tscFrequencyKHz)
        let (baseMHz, _, busMHz, _) = try cpuid(0x16)
        #expect(UInt64(baseMHz) * 1000 == CPUModel.default.tscFrequencyKHz && busMHz == 100)
        let (_, _, _, invariant) = try cpuid(0x8000_0007)
        #expect(invariant & (1 << 8) != 0)
    }

    @Test func modelMSRsExistAndAPERFDoesNot() throws {
        // mov ecx, 1A0h; rdmsr; mov ebx, eax; mov ecx, 0E8h; rdmsr (#GP)
        let (machine, rip) = try run([0xB9, 0xA0, 0x01, 0, 0, 0x0F, 0x32, 0x89, 0xC3, 0xB9, 0xE8, 0, 0, 0, 0x0F, 0x32, 0xF4])
        #expect(rip == 0x10080E, "RDMSR 0xE8 (APERF) is #GP")
        #expect(try machine.vcpu.registers().rbx & 1 == 1, "IA32_MISC_ENABLE reports fast strings")
        // wrmsr 8Bh <- 0; cpuid(1); rdmsr 8Bh: the revision in EDX
        let (revision, _) = try run([0xB9, 0x8B, 0, 0, 0, 0x31, 0xC0, 0x31, 0xD2, 0x0F, 0x30, 0xB8, 1, 0, 0, 0, 0x0F, 0xA2,
                                     0xB9, 0x8B, 0, 0, 0, 0x0F, 0x32, 0xF4])
        #expect(try revision.vcpu.registers().rdx == 1)
    }

    @Test func tscAdjustMovesTheTSC() throws {
        // rdtsc; mov esi, edx; mov ecx, 3Bh; xor eax, eax; mov edx, 100h; wrmsr (adjust += 2^40); rdtsc; hlt
        let (machine, _) = try run([0x0F, 0x31, 0x89, 0xD6, 0xB9, 0x3B, 0, 0, 0, 0x31, 0xC0, 0xBA, 0x00, 0x01, 0, 0,
                                    0x0F, 0x30, 0x0F, 0x31, 0xF4])
        let r = try machine.vcpu.registers()
        #expect(r.rdx &- r.rsi >= 0x100, "the TSC's upper half moved by at least the adjustment")
    }

    @Test func rdtscpAndRDPIDReturnTSCAux() throws {
        // mov ecx, C0000103h; mov eax, 42h; xor edx, edx; wrmsr; rdtscp; mov ebx, ecx; rdpid rsi; hlt
        let (machine, _) = try run([0xB9, 0x03, 0x01, 0x00, 0xC0, 0xB8, 0x42, 0, 0, 0, 0x31, 0xD2, 0x0F, 0x30,
                                    0x0F, 0x01, 0xF9, 0x89, 0xCB, 0xF3, 0x0F, 0xC7, 0xFE, 0xF4])
        let r = try machine.vcpu.registers()
        #expect(r.rbx == 0x42 && r.rsi == 0x42)
    }

    @Test func rdrandAndRDSEEDDeliverHostEntropy() throws {
        // rdrand rax; setc bl; rdrand rcx; rdseed edx; setc bh; hlt
        let (machine, _) = try run([0x48, 0x0F, 0xC7, 0xF0, 0x0F, 0x92, 0xC3, 0x48, 0x0F, 0xC7, 0xF1, 0x0F, 0xC7, 0xFA,
                                    0x0F, 0x92, 0xC7, 0xF4])
        let r = try machine.vcpu.registers()
        #expect(r.rbx & 0xFFFF == 0x0101, "CF = 1: a value was delivered")
        #expect(r.rax != r.rcx, "two 64-bit draws differ (equal with probability 2^-64)")
        #expect(r.rdx >> 32 == 0)
    }

    @Test func unadvertisedInstructionsAreInvalid() throws {
        for code: [UInt8] in [[0x0F, 0x01, 0xD0], [0x0F, 0x01, 0xCA], [0x0F, 0x01, 0xCB], [0x0F, 0x01, 0xC8],
                              [0x0F, 0x01, 0xC9]] {
            let (_, rip) = try run(code + [0xF4])
            #expect(rip == 0x100807, "\(code) is #UD: XSAVE, SMAP and MONITOR are not advertised")
        }
    }

    @Test func smswAndSegmentPushesInLongMode() throws {
        // smsw eax; push fs; pop gs; mov bx, gs; hlt
        let (machine, _) = try run([0x0F, 0x01, 0xE0, 0x0F, 0xA0, 0x0F, 0xA9, 0x66, 0x8C, 0xEB, 0xF4])
        let r = try machine.vcpu.registers()
        let special = try machine.vcpu.specialRegisters()
        #expect(r.rax == special.cr0 & 0xFFFF_FFFF)
        #expect(r.rbx & 0xFFFF == UInt64(special.fs.selector))
        #expect(r.rsp == 0x80000)
    }
}
