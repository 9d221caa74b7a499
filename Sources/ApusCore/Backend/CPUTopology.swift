/// What CPUID tells one vCPU about where it sits: its APIC ID and how many CPUs share its package. Every vCPU of a
/// machine is one core of one package (no SMT), and vCPU i has APIC ID i — the IDs the MADT lists and the local
/// APICs carry. Both backends give each vCPU its own CPUID through `apply`.
public struct CPUTopology: Sendable, Equatable {
    public let apicID: UInt32
    public let cpuCount: Int
    /// AMD's extended leaves (0x8000_0008 ECX, 0x8000_001E, CmpLegacy) describe the topology too; Intel's are reserved.
    public let amdLeaves: Bool

    public init(apicID: UInt32, cpuCount: Int, amdLeaves: Bool) {
        self.apicID = apicID
        self.cpuCount = max(cpuCount, 1)
        self.amdLeaves = amdLeaves
    }

    /// Bits of the APIC ID that number the cores: the smallest width that holds `cpuCount` IDs.
    public var coreIDWidth: UInt32 {
        var width: UInt32 = 0
        while (1 << width) < cpuCount { width += 1 }
        return width
    }

    /// Whether a leaf-0 vendor string (EBX, EDX, ECX) is AMD's "AuthenticAMD" (or Hygon's, which follows it).
    public static func isAMD(vendorEBX: UInt32) -> Bool {
        vendorEBX == 0x6874_7541 /* "Auth" */ || vendorEBX == 0x6F67_7948 /* "Hygo" */
    }

    /// The registers of CPUID `leaf`/`subleaf` with the topology fields set for this vCPU; other fields unchanged.
    public func apply(leaf: UInt32, subleaf: UInt32,
                      _ registers: (UInt32, UInt32, UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var (a, b, c, d) = registers
        let addressable = UInt32(1) << coreIDWidth
        switch leaf {
        case 1:
            // EBX[31:24] initial APIC ID, [23:16] addressable IDs in the package (valid when EDX.HTT is set).
            b = (b & 0x0000_FFFF) | (apicID & 0xFF) << 24 | (min(addressable, 255) << 16)
            if cpuCount > 1 { d |= 1 << 28 } else { d &= ~(1 << 28) }
        case 4:
            // Deterministic cache parameters: EAX[31:26] addressable core IDs - 1; the last-level cache (level 3)
            // is shared by every core, the others are per core.
            guard a & 0x1F != 0 else { break }
            let level = (a >> 5) & 7
            let sharing = level >= 3 ? addressable - 1 : 0
            a = (a & 0x3FFF) | (sharing & 0xFFF) << 14 | ((addressable - 1) & 0x3F) << 26
        case 0xB, 0x1F:
            // Extended topology: level 0 is SMT (one thread per core), level 1 the cores; then no more levels.
            switch subleaf {
            case 0: (a, b, c) = (0, 1, 1 << 8)
            case 1: (a, b, c) = (coreIDWidth, UInt32(cpuCount), 2 << 8 | 1)
            default: (a, b, c) = (0, 0, subleaf & 0xFF)
            }
            d = apicID
        case 0x8000_0001 where amdLeaves:
            // ECX[1] CmpLegacy: the cores of a package are reported through leaf 1's count, not as threads.
            if cpuCount > 1 { c |= 1 << 1 } else { c &= ~(1 << 1) }
        case 0x8000_0008 where amdLeaves:
            // ECX[7:0] cores - 1, [15:12] APIC ID bits that number cores.
            c = (c & ~0xF0FF) | (UInt32(cpuCount - 1) & 0xFF) | (coreIDWidth & 0xF) << 12
        case 0x8000_001E where amdLeaves:
            // Extended APIC ID; EBX[7:0] core ID, [15:8] threads per core - 1; ECX node 0, one node per package.
            a = apicID
            b = (b & ~0xFFFF) | (apicID & 0xFF)
            c = c & ~0x7FF
        default:
            break
        }
        return (a, b, c, d)
    }
}
