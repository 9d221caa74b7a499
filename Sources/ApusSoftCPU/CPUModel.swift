/// The CPU the software backend pretends to be, as CPUID reports it.
public struct CPUModel: Sendable, Equatable {
    public var vendor: String
    /// CPUID.1:EDX and ECX feature bits.
    public var features1EDX: UInt32
    public var features1ECX: UInt32
    /// CPUID.80000001h:EDX.
    public var extendedEDX: UInt32
    public var tscFrequencyKHz: UInt64

    /// What linux-guest-minimum.md lists: fpu tsc msr pae cx8 apic pge cmov fxsr sse sse2, cx16, the hypervisor bit,
    /// and syscall, nx, lm; and mmx, which glibc's baseline ISA check wants.
    public static let `default` = CPUModel(
        vendor: "ApusSoftCPU ",
        features1EDX: 1 << 0 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 9 | 1 << 13 | 1 << 15 | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26,
        features1ECX: 1 << 13 | 1 << 21 | 1 << 24 | 1 << 31,   // 21 x2APIC, 24 TSC-deadline: cleared without a local APIC
        extendedEDX: 1 << 11 | 1 << 20 | 1 << 29,
        tscFrequencyKHz: 1_000_000)

    func cpuid(leaf: UInt32, subleaf: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        func word(_ offset: Int) -> UInt32 {
            let bytes = Array(vendor.utf8.prefix(12)) + [UInt8](repeating: 0x20, count: 12)
            return (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
        }
        switch leaf {
        case 0: return (1, word(0), word(8), word(4))
        case 1: return (0x0006_06A0, 0, features1ECX, features1EDX)   // family 6; one logical processor
        case 0x8000_0000: return (0x8000_0001, 0, 0, 0)
        case 0x8000_0001: return (0, 0, 0, extendedEDX)
        default: return (0, 0, 0, 0)
        }
    }
}
