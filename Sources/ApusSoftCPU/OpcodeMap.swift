/// The x86 opcode maps as data (one-byte, 0F, 0F 38, 0F 3A), written from the Intel SDM Vol. 2 Appendix A: every
/// opcode, ModRM.reg group slot and mandatory-prefix variant with its mnemonic, the modes where it is valid, whether
/// LOCK may prefix it, and the CPUID feature it belongs to. They are the source of truth for decoding: the dispatch
/// table (DispatchTable) is built from these rows at start-up, each implemented entry names its handler
/// (OpcodeHandler.bound), and the decoder takes #UD for invalid modes, LOCK, ModRM forms and reserved slots from them.
/// The coverage report (OpcodeCoverage) and the equivalence generators are built from them too.
///
/// To add an instruction:
///  1. Give it a row in OpcodeMap+OneByte/+TwoByte/+ThreeByte/+X87.swift (mnemonic, ModRM form and group, mandatory
///     prefix, modes, whether LOCK may prefix it, CPUID feature). The decoder's #UD for other modes, LOCK, the wrong
///     ModRM form or prefix, and its precomputed tables (DispatchTable+Quick.swift) follow from the row alone.
///  2. Bind it in OpcodeHandler.bound(to:): return the handler whose code runs it, or add an OpcodeHandler case
///     (one-byte-map handlers before `jumpNearConditional`, 0F ones after; at most 127 cases) with its `case` in
///     executeOneByte (CPUCore+Execute.swift) or executeTwoByte (CPUCore+TwoByte.swift). Rows of 0F 38 and 0F 3A
///     all reach threeByteMap (CPUCore+SSSE3.swift), which hands SSE4 opcodes to CPUCore+SSE41.swift.
///  3. Write the code in the CPUCore+ file of its concern; if a CPU model may lack the feature, check
///     `model.advertises(feature)` there (as TZCNT/LZCNT fall back to BSF/BSR).
///  4. When the feature's last instruction is done, take it out of OpcodeHandler.unimplementedFeatures, and advertise
///     it in CPUModel only once KVM has refereed it (the opcode-map equivalence group then draws its rows).
///  5. Regenerate docs/OPCODE-COVERAGE.md (`APUS_WRITE_OPCODE_COVERAGE=1 swift test --skip-build --filter
///     OpcodeCoverageTests`) and run DispatchTableTests, OpcodeCoverageTests, its instruction tests and
///     `APUS_EQUIVALENCE_GROUPS=opcode-map,random-bytes swift test --skip-build --filter UserModeEquivalence`.
public enum OpcodeMapID: Int, Sendable, CaseIterable, Comparable {
    case oneByte, twoByte, threeByte38, threeByte3A

    /// The escape bytes that select the map.
    public var escape: [UInt8] {
        switch self {
        case .oneByte: return []
        case .twoByte: return [0x0F]
        case .threeByte38: return [0x0F, 0x38]
        case .threeByte3A: return [0x0F, 0x3A]
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// The prefix an SSE row needs to select its variant (none, 66, F3 or F2).
public enum MandatoryPrefix: UInt8, Sendable {
    case none = 0, operandSize = 0x66, repe = 0xF3, repne = 0xF2
}

/// How the entry uses ModRM, and so which byte the probe encodes after the opcode.
public enum ModRMForm: Sendable, Equatable {
    /// No ModRM byte.
    case none
    /// Register or memory operand (the probe uses the memory form).
    case any
    case memoryOnly
    case registerOnly
    /// A register operand whatever ModRM.mod says (MOV to and from control and debug registers: SDM Vol. 2, "the
    /// mod field is ignored"); the probe uses the register form.
    case registerIgnoringMod
    /// One ModRM value selects the instruction (0F 01 C8 MONITOR, D9 E0 FCHS).
    case fixed(UInt8)
    /// Every register form with the entry's ModRM.reg (x87 ST(i) operands; LFENCE/MFENCE/SFENCE, whose rm bits are
    /// ignored); the byte given is the one the probe uses.
    case registerGroup(UInt8)
}

/// The modes an encoding is architecturally valid in: real-address, protected (16- and 32-bit code; compatibility
/// mode behaves as protected mode here) and 64-bit.
public struct CPUModes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let real = CPUModes(rawValue: 1)
    public static let protected = CPUModes(rawValue: 2)
    public static let long64 = CPUModes(rawValue: 4)
    public static let all: CPUModes = [.real, .protected, .long64]
    /// Invalid in 64-bit mode (PUSH ES, AAA, BOUND, LES, 82h...).
    public static let legacy: CPUModes = [.real, .protected]
    /// #UD in real-address mode (LAR, LSL, ARPL, SLDT...).
    public static let protectedAndLong: CPUModes = [.protected, .long64]
}

/// The CPUID feature an instruction belongs to, or what the entry is when it is not an instruction.
public enum InstructionFeature: String, Sendable, CaseIterable {
    case base = "base", x87 = "x87", cmov = "CMOV", cx8 = "CX8", cx16 = "CX16", tsc = "TSC", msr = "MSR"
    case sep = "SEP", syscall = "SYSCALL", fxsr = "FXSR", clflush = "CLFLUSH", mmx = "MMX", sse = "SSE"
    case sse2 = "SSE2", sse3 = "SSE3", ssse3 = "SSSE3", sse41 = "SSE4.1", sse42 = "SSE4.2", popcnt = "POPCNT"
    case lzcnt = "LZCNT", bmi1 = "BMI1", bmi2 = "BMI2", avx = "AVX/VEX", movbe = "MOVBE", aes = "AES", pclmul = "PCLMULQDQ"
    case sha = "SHA", adx = "ADX", rdrand = "RDRAND", rdseed = "RDSEED", rdtscp = "RDTSCP", rdpid = "RDPID"
    case smap = "SMAP", xsave = "XSAVE", xsaveopt = "XSAVEOPT", xsaves = "XSAVES", monitor = "MONITOR"
    case vmx = "VMX", smx = "SMX", fsgsbase = "FSGSBASE", invpcid = "INVPCID", prefetchw = "PREFETCHW"
    case rtm = "RTM", pku = "PKU", clflushopt = "CLFLUSHOPT", clwb = "CLWB"
    /// No instruction: #UD by architecture (reserved slots, UD0/UD1/UD2, RSM outside SMM).
    case reserved = "reserved"
    /// A prefix or map escape, not an instruction of its own.
    case prefix = "prefix"
}

public struct OpcodeMapEntry: Sendable, Equatable {
    public let map: OpcodeMapID
    public let opcode: UInt8
    public let prefix: MandatoryPrefix
    /// The ModRM.reg value of a group slot.
    public let group: UInt8?
    public let form: ModRMForm
    public let mnemonic: String
    public let modes: CPUModes
    public let lockable: Bool
    public let feature: InstructionFeature

    /// #UD by architecture wherever it is listed.
    public var isReserved: Bool { feature == .reserved }
    public var isInstruction: Bool { feature != .reserved && feature != .prefix }

    /// The bytes that select this entry: mandatory prefix, escape, opcode and the ModRM byte (memory form [BX+SI],
    /// [EAX] or [RAX] unless the entry needs a register form); displacement and immediates are left to the bytes
    /// that follow, which the probe zeroes.
    public var encoding: [UInt8] {
        var bytes: [UInt8] = prefix == .none ? [] : [prefix.rawValue]
        bytes += map.escape
        bytes.append(opcode)
        let reg = (group ?? 0) << 3
        switch form {
        case .none: break
        case .any, .memoryOnly: bytes.append(reg)
        case .registerOnly, .registerIgnoringMod: bytes.append(0xC0 | reg)
        case .fixed(let modrm), .registerGroup(let modrm): bytes.append(modrm)
        }
        return bytes
    }

    /// "0F 38 00", "66 0F 6F", "0F 01 /7", "D9 E0".
    public var opcodeText: String {
        var parts = encoding.prefix(prefix == .none ? 0 : 1).map(hexByte)
        parts += map.escape.map(hexByte)
        parts.append(hexByte(opcode))
        switch form {
        case .fixed(let modrm), .registerGroup(let modrm): parts.append(hexByte(modrm))
        case .registerOnly, .registerIgnoringMod: parts.append((group.map { "/\($0) " } ?? "") + "(reg)")
        case .memoryOnly: parts.append((group.map { "/\($0) " } ?? "") + "(mem)")
        default: if let group { parts.append("/\(group)") }
        }
        return parts.joined(separator: " ")
    }
}

func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}

public enum OpcodeMap {
    /// Every entry of the four maps, in map and opcode order.
    public static let entries: [OpcodeMapEntry] = withInvalidModes(oneByte + twoByte + threeByte38 + threeByte3A)
        .enumerated()
        .sorted { ($0.element.map, $0.element.opcode, $0.offset) < ($1.element.map, $1.element.opcode, $1.offset) }
        .map(\.element)

    /// An instruction valid only in some modes is #UD in the others unless another entry gives the same encoding a
    /// meaning there (63: ARPL, MOVSXD; C4: LES, VEX): those modes get a reserved entry, so the tests check the #UD.
    static func withInvalidModes(_ rows: [OpcodeMapEntry]) -> [OpcodeMapEntry] {
        var result = rows
        let names: [(CPUModes, String)] = [(.real, "real-address"), (.protected, "protected"), (.long64, "64-bit")]
        for entry in rows where entry.isInstruction && entry.modes != .all {
            for (mode, name) in names where !entry.modes.contains(mode) {
                let covered = rows.contains {
                    $0.map == entry.map && $0.opcode == entry.opcode && $0.prefix == entry.prefix
                        && $0.group == entry.group && $0.modes.contains(mode)
                        && ($0.form == entry.form || $0.form == .none || entry.form == .none)   // VEX vs LES/LDS
                }
                guard !covered else { continue }
                result.append(OpcodeMapEntry(map: entry.map, opcode: entry.opcode, prefix: entry.prefix,
                                             group: entry.group, form: entry.form,
                                             mnemonic: entry.mnemonic + " (#UD in \(name) mode)", modes: mode,
                                             lockable: false, feature: .reserved))
            }
        }
        return result
    }

    /// The entries valid in `mode` that are instructions.
    public static func instructions(validIn mode: CPUModes) -> [OpcodeMapEntry] {
        entries.filter { $0.isInstruction && $0.modes.contains(mode) }
    }
}

/// Builders the map files use to state rows briefly.
struct OpcodeRows {
    let map: OpcodeMapID
    var rows: [OpcodeMapEntry] = []

    init(_ map: OpcodeMapID) { self.map = map }

    mutating func add(_ opcode: UInt8, _ mnemonic: String, _ feature: InstructionFeature = .base,
                      form: ModRMForm = .none, group: UInt8? = nil, prefix: MandatoryPrefix = .none,
                      modes: CPUModes = .all, lock: Bool = false) {
        rows.append(OpcodeMapEntry(map: map, opcode: opcode, prefix: prefix, group: group, form: form,
                                   mnemonic: mnemonic, modes: modes, lockable: lock, feature: feature))
    }

    mutating func reserved(_ opcode: UInt8, form: ModRMForm = .none, group: UInt8? = nil,
                           prefix: MandatoryPrefix = .none, modes: CPUModes = .all, _ mnemonic: String = "(reserved)") {
        add(opcode, mnemonic, .reserved, form: form, group: group, prefix: prefix, modes: modes)
    }

    /// An SSE row's variants: (prefix, mnemonic, feature) for each defined prefix.
    mutating func sse(_ opcode: UInt8, form: ModRMForm = .any, group: UInt8? = nil,
                      _ variants: [(MandatoryPrefix, String, InstructionFeature)]) {
        for (prefix, mnemonic, feature) in variants {
            add(opcode, mnemonic, feature, form: form, group: group, prefix: prefix)
        }
    }

    /// An MMX row and its SSE2 (66) twin on XMM registers.
    mutating func mmx(_ opcode: UInt8, _ mnemonic: String, _ feature: InstructionFeature = .mmx,
                      form: ModRMForm = .any, group: UInt8? = nil) {
        add(opcode, mnemonic + " Pq,Qq", feature, form: form, group: group)
        add(opcode, mnemonic + " Vx,Wx", .sse2, form: form, group: group, prefix: .operandSize)
    }
}
