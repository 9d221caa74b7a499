/// Which instruction-set features of the opcode maps this CPU model advertises in CPUID, bit by bit (SDM Vol. 2,
/// CPUID). The coverage report and its tests hold the interpreter to exactly these.
extension CPUModel {
    public func advertises(_ feature: InstructionFeature) -> Bool {
        func bit(_ word: UInt32, _ index: UInt32) -> Bool { (word >> index) & 1 != 0 }
        switch feature {
        case .base: return true
        case .reserved, .prefix: return false
        case .x87: return bit(features1EDX, 0)
        case .tsc: return bit(features1EDX, 4)
        case .msr: return bit(features1EDX, 5)
        case .cx8: return bit(features1EDX, 8)
        case .sep: return bit(features1EDX, 11)
        case .cmov: return bit(features1EDX, 15)
        case .clflush: return bit(features1EDX, 19)
        case .mmx: return bit(features1EDX, 23)
        case .fxsr: return bit(features1EDX, 24)
        case .sse: return bit(features1EDX, 25)
        case .sse2: return bit(features1EDX, 26)
        case .sse3: return bit(features1ECX, 0)
        case .pclmul: return bit(features1ECX, 1)
        case .monitor: return bit(features1ECX, 3)
        case .vmx: return bit(features1ECX, 5)
        case .smx: return bit(features1ECX, 6)
        case .ssse3: return bit(features1ECX, 9)
        case .cx16: return bit(features1ECX, 13)
        case .sse41: return bit(features1ECX, 19)
        case .sse42: return bit(features1ECX, 20)
        case .movbe: return bit(features1ECX, 22)
        case .popcnt: return bit(features1ECX, 23)
        case .aes: return bit(features1ECX, 25)
        case .xsave: return bit(features1ECX, 26)
        case .avx: return bit(features1ECX, 28)
        case .rdrand: return bit(features1ECX, 30)
        case .fsgsbase: return bit(features7EBX, 0)
        case .bmi1: return bit(features7EBX, 3)
        case .bmi2: return bit(features7EBX, 8)
        case .invpcid: return bit(features7EBX, 10)
        case .rtm: return bit(features7EBX, 11)
        case .rdseed: return bit(features7EBX, 18)
        case .adx: return bit(features7EBX, 19)
        case .smap: return bit(features7EBX, 20)
        case .clflushopt: return bit(features7EBX, 23)
        case .clwb: return bit(features7EBX, 24)
        case .sha: return bit(features7EBX, 29)
        case .pku: return bit(features7ECX, 3)
        case .rdpid: return bit(features7ECX, 22)
        // Leaf 0Dh sub-leaf 1 carries XSAVEOPT and XSAVES; the model reports no XSAVE at all.
        case .xsaveopt, .xsaves: return false
        case .syscall: return bit(extendedEDX, 11)
        case .rdtscp: return bit(extendedEDX, 27)
        case .lzcnt: return bit(extendedECX, 5)
        case .prefetchw: return bit(extendedECX, 8)
        }
    }
}
