import ApusCore

extension MSR {
    static let featureControl: UInt32 = 0x3A
    static let tscAdjust: UInt32 = 0x3B
    static let microcodeRevision: UInt32 = 0x8B
    static let miscEnable: UInt32 = 0x1A0
    static let tscAux: UInt32 = 0xC000_0103
}

/// The MSRs the CPU model implies (CPUModel.swift): what Linux reads unguarded once it sees an Intel family 6 CPU
/// (IA32_MISC_ENABLE, IA32_BIOS_SIGN_ID), and what the advertised TSC_ADJUST, RDTSCP and RDPID need.
extension CPUCore {
    /// IA32_MISC_ENABLE: fast strings enabled (Linux otherwise drops REP_GOOD), no BTS, no PEBS.
    static let miscEnableValue: UInt64 = 1 << 0 | 1 << 11 | 1 << 12
    /// The microcode revision IA32_BIOS_SIGN_ID reports in its upper half.
    static let microcodeRevision: UInt64 = 1

    /// The model's MSR `index`, or nil when it has none (the caller raises #GP).
    func readModelMSR(_ index: UInt32) -> UInt64? {
        switch index {
        case MSR.featureControl: return 1   // locked, with VMX and SMX off
        case MSR.tscAdjust where model.has(.tscAdjust): return msrs[MSR.tscAdjust] ?? 0
        case MSR.microcodeRevision: return Self.microcodeRevision << 32
        case MSR.miscEnable: return Self.miscEnableValue
        case MSR.tscAux where model.has(.rdtscp) || model.has(.rdpid): return timeStampAuxiliary
        default: return nil
        }
    }

    /// Writes the model's MSR `index`; false when it has none. Throws #GP for a value the MSR refuses.
    func writeModelMSR(_ index: UInt32, _ value: UInt64) throws -> Bool {
        switch index {
        case MSR.tscAdjust where model.has(.tscAdjust):
            // The TSC moves by the change in the adjustment (SDM Vol. 3B, 18.17.3).
            let old = msrs[MSR.tscAdjust] ?? 0
            timeStampCounter.set(timeStampCounter.value &+ (value &- old))
            msrs[MSR.tscAdjust] = value
        case MSR.microcodeRevision:
            break   // writing 0 before CPUID is how software asks for the revision; there is nothing to load
        case MSR.miscEnable:
            guard value == Self.miscEnableValue else { throw CPUFault.gp() }
        case MSR.tscAux where model.has(.rdtscp) || model.has(.rdpid):
            guard value >> 32 == 0 else { throw CPUFault.gp() }
            msrs[MSR.tscAux] = value
        default:
            return false   // IA32_FEATURE_CONTROL is locked: a write is #GP like an absent MSR's
        }
        return true
    }
}
