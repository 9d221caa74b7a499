/// The CPU the software backend pretends to be, as CPUID reports it: a vendor and signature Linux knows, the feature
/// bits of what the interpreter implements, cache and address-size leaves, and the TSC's frequency in leaves 15h/16h
/// so the guest never calibrates the TSC against a timer the interpreter's speed can skew.
public struct CPUModel: Sendable, Equatable {
    public var vendor: String
    /// The processor brand string of leaves 80000002h-80000004h (at most 47 characters).
    public var brand: String
    /// CPUID.1:EAX: stepping, model, family (with their extended fields).
    public var signature: UInt32
    /// CPUID.1:EDX and ECX feature bits.
    public var features1EDX: UInt32
    public var features1ECX: UInt32
    /// CPUID.(EAX=7,ECX=0):EBX, ECX and EDX.
    public var features7EBX: UInt32
    public var features7ECX: UInt32
    public var features7EDX: UInt32
    /// CPUID.80000001h:EDX and ECX.
    public var extendedEDX: UInt32
    public var extendedECX: UInt32
    public var tscFrequencyKHz: UInt64
    /// The core crystal clock of leaf 15h. Linux also takes it as the local APIC timer's rate (lapic_timer_period =
    /// crystal / HZ), so it is the 1 GHz the local APIC's timer counts at (LocalAPICState.timerNanosecondsPerTick);
    /// any other value would make the guest's tick run fast or slow.
    public var crystalKHz: UInt32 = 1_000_000

    /// What linux-guest-minimum.md lists (fpu tsc msr pae cx8 apic pge cmov fxsr sse sse2 cx16 syscall nx lm and the
    /// hypervisor bit), mmx for glibc's baseline check, and what the interpreter implements besides: RDRAND, RDSEED,
    /// RDTSCP, RDPID, POPCNT, SSE3 (without MONITOR/MWAIT), SSSE3, SSE4.1, SSE4.2, LZCNT, BMI1 and BMI2 (VEX for them
    /// alone: no AVX), LAHF/SAHF in 64-bit mode, TSC_ADJUST, the invariant TSC and deprecated FCS/FDS (the x87
    /// pointers are stored without segments). The signature is family 6 model 15
    /// stepping 11 (QEMU's `core2duo`), which is outside Linux's intel_pstate and mitigation-quirk model lists, so
    /// Linux expects no model-specific MSRs. Not claimed: ERMS/FSRM (byte-wise REP MOVSB is slower here than the
    /// quadword form Linux otherwise uses), SMAP, XSAVE, MONITOR/MWAIT, APERF/MPERF, MTRR, MCE, performance counters.
    public static let `default` = CPUModel(
        vendor: "GenuineIntel",
        brand: "Apus software CPU",
        signature: 0x0000_06FB,
        features1EDX: 1 << 0 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 9 | 1 << 13 | 1 << 15 | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26,
        // ECX 21 x2APIC and 24 TSC-deadline: cleared when the machine has no local APIC.
        features1ECX: 1 << 0 | 1 << 9 | 1 << 13 | 1 << 19 | 1 << 20 | 1 << 21 | 1 << 23 | 1 << 24 | 1 << 30 | 1 << 31,
        features7EBX: 1 << 1 | 1 << 3 | 1 << 8 | 1 << 13 | 1 << 18,   // 13: FCS and FDS deprecated (stored as zero)
        features7ECX: 1 << 22,
        features7EDX: 0,
        extendedEDX: 1 << 11 | 1 << 20 | 1 << 27 | 1 << 29,
        extendedECX: 1 << 0 | 1 << 5,
        tscFrequencyKHz: 1_000_000)

    /// Features instructions check before they execute (each is #UD when the model does not advertise it).
    public enum Feature: Sendable {
        case rdrand, rdseed, rdtscp, rdpid, smap, xsave, monitor, tscAdjust

        var location: (leaf: KeyPath<CPUModel, UInt32>, bit: UInt32) {
            switch self {
            case .rdrand: return (\.features1ECX, 30)
            case .xsave: return (\.features1ECX, 26)
            case .monitor: return (\.features1ECX, 3)
            case .rdseed: return (\.features7EBX, 18)
            case .smap: return (\.features7EBX, 20)
            case .tscAdjust: return (\.features7EBX, 1)
            case .rdpid: return (\.features7ECX, 22)
            case .rdtscp: return (\.extendedEDX, 27)
            }
        }
    }

    public func has(_ feature: Feature) -> Bool {
        let (word, bit) = feature.location
        return (self[keyPath: word] >> bit) & 1 != 0
    }

    static let maximumBasicLeaf: UInt32 = 0x16
    static let maximumExtendedLeaf: UInt32 = 0x8000_0008

    func cpuid(leaf: UInt32, subleaf: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        switch leaf {
        case 0:
            return (Self.maximumBasicLeaf, Self.word(vendor, 12, 0), Self.word(vendor, 12, 8), Self.word(vendor, 12, 4))
        case 1:
            // EBX: CLFLUSH line size 8 x 8 bytes (reported even without CLFLUSH, as Linux sizes caches by it), one
            // logical processor, initial APIC ID 0.
            return (signature, 8 << 8 | 1 << 16, features1ECX, features1EDX)
        case 2:
            return (0x00FF_0001, 0, 0, 0)   // descriptor FFh: the caches are described by leaf 4
        case 4:
            return Self.cacheLeaf(subleaf)
        case 7:
            return subleaf == 0 ? (0, features7EBX, features7ECX, features7EDX) : (0, 0, 0, 0)
        case 0xD:
            return (0, 0, 0, 0)   // no XSAVE: every state component is unsupported
        case 0x15:
            // TSC = crystal x EBX / EAX, with the ratio in lowest terms: Linux multiplies crystal_khz by EBX in
            // 32 bits before dividing, so EBX must stay small (a 1 GHz crystal times 1,000,000 would wrap and make
            // the guest believe a 3.6 MHz TSC). ECX is the crystal in Hz; Linux then sets TSC_KNOWN_FREQ.
            let (denominator, numerator) = Self.ratio(crystalKHz: UInt64(crystalKHz), tscKHz: tscFrequencyKHz)
            return (denominator, numerator, crystalKHz &* 1000, 0)
        case 0x16:
            let megahertz = UInt32(truncatingIfNeeded: tscFrequencyKHz / 1000)
            return (megahertz, megahertz, 100, 0)   // base, maximum and bus (reference) frequency in MHz
        case 0x8000_0000:
            return (Self.maximumExtendedLeaf, 0, 0, 0)
        case 0x8000_0001:
            return (0, 0, extendedECX, extendedEDX)
        case 0x8000_0002...0x8000_0004:
            let offset = Int(leaf - 0x8000_0002) * 16
            return (Self.word(brand, 48, offset), Self.word(brand, 48, offset + 4), Self.word(brand, 48, offset + 8),
                    Self.word(brand, 48, offset + 12))
        case 0x8000_0006:
            return (0, 0, 1024 << 16 | 6 << 12 | 64, 0)   // L2: 1 MiB, 8-way (encoding 6), 64-byte lines
        case 0x8000_0007:
            return (0, 0, 0, 1 << 8)   // invariant TSC: constant rate, running in every C-state
        case 0x8000_0008:
            return (48 << 8 | 40, 0, 0, 0)   // 40 physical, 48 linear address bits
        default:
            return (0, 0, 0, 0)
        }
    }

    /// TSC / crystal as (denominator, numerator) in lowest terms, each fitting 32 bits.
    static func ratio(crystalKHz: UInt64, tscKHz: UInt64) -> (UInt32, UInt32) {
        var (a, b) = (crystalKHz, tscKHz)
        while b != 0 { (a, b) = (b, a % b) }
        let divisor = max(a, 1)
        return (UInt32(truncatingIfNeeded: crystalKHz / divisor), UInt32(truncatingIfNeeded: tscKHz / divisor))
    }

    /// Leaf 4 (deterministic cache parameters): L1 data and instruction 32 KiB 8-way, L2 1 MiB 16-way, all 64-byte
    /// lines and private to the one core, then the null type that ends the list.
    static func cacheLeaf(_ subleaf: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        let caches: [(type: UInt32, level: UInt32, ways: UInt32, sets: UInt32)] = [
            (1, 1, 8, 64), (2, 1, 8, 64), (3, 2, 16, 1024),
        ]
        guard Int(subleaf) < caches.count else { return (0, 0, 0, 0) }
        let cache = caches[Int(subleaf)]
        let eax = cache.type | cache.level << 5 | 1 << 8   // self-initializing
        let ebx = (cache.ways - 1) << 22 | 63              // one partition, 64-byte lines
        return (eax, ebx, cache.sets - 1, 0)
    }

    /// Four bytes of `text` (space-padded to `width` for the vendor, NUL-padded for the brand string) as CPUID packs
    /// them, little-endian.
    static func word(_ text: String, _ width: Int, _ offset: Int) -> UInt32 {
        let padding: UInt8 = width == 12 ? 0x20 : 0
        let bytes = Array(text.utf8.prefix(width == 48 ? 47 : width)) + [UInt8](repeating: padding, count: width)
        return (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }
}
