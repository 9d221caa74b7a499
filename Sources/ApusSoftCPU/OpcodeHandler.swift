/// The routine that executes an entry of the opcode maps. The dispatch table (DispatchTable) resolves each
/// instruction to one of these when it is first decoded, the decode cache keeps it, and the interpreter switches on it
/// (a dense switch over a one-byte enum compiles to a jump table). One-byte-map handlers come first, then the 0F
/// ones: `runsInTwoByteMap` splits the two switches.
enum OpcodeHandler: UInt8, CaseIterable {
    /// No handler: the decoder raises #UD before dispatch. Raw value 0, so a zeroed decode-cache entry holds it.
    case none = 0

    // One-byte map (CPUCore+Execute.swift).
    case arithmeticWithRegister, arithmeticAccumulatorImmediate, moveRegisterMemory, jumpShortConditional
    case loadEffectiveAddress, testRegisterMemory, arithmeticImmediate, callNear, returnNear
    case incrementDecrementMemory, callIndirect, farIndirect, jumpIndirect, pushMemory
    case pushRegister, popRegister, jumpNear, jumpShort, moveImmediateToRegister, moveImmediateByteToRegister
    case moveImmediate, shiftRotate, unaryGroup, incrementDecrementRegister, moveSignExtendDoubleword
    case pushImmediate, multiplyImmediate, exchangeRegisterMemory, moveFromSegment, moveToSegment, popMemory
    case exchangeAccumulator, waitForFPU, x87, convertAccumulator, signExtendAccumulator
    case pushFlags, popFlags, storeAHIntoFlags, loadAHFromFlags, string, testAccumulatorImmediate
    case leave, breakpoint, interrupt, interruptReturn, farReturn, loop, jumpIfCounterZero, translate
    case portString, enter, portIn, portOut, farJumpDirect, halt
    case complementCarry, clearCarry, setCarry, clearInterrupts, setInterrupts, clearDirection, setDirection
    /// Segment pushes and pops, PUSHA/POPA, BCD, BOUND, ARPL, 82, far CALL, moffs MOVs, LES/LDS, INTO, AAM/AAD,
    /// SALC, INT1 (CPUCore+LegacyOneByte.swift).
    case legacyOneByte
    /// The VEX prefixes C4/C5, decoded for BMI1/BMI2 only (CPUCore+VEX.swift, CPUCore+BMI.swift; AVX stays #UD).
    case vex

    // 0F map (CPUCore+TwoByte.swift).
    case jumpNearConditional, moveExtend, conditionalMove, setByte, hintNop, bitTest, multiplySigned
    case compareExchange, groupSeven, systemCall, systemReturn, clearTaskSwitched, invalidateCaches
    case moveControlRegister, writeMSR, readTimeStampCounter, readMSR, systemSegment, moveDebugRegister
    case readPerformanceCounters, cpuid, doubleShift, exchangeAdd, fenceOrState, bitScan, groupNine, byteSwap
    /// F3 0F BC/BD: TZCNT and LZCNT where the model advertises them, else BSF/BSR (CPUCore+BitCount.swift).
    case countZeros
    /// MMX, SSE, SSE2 and SSE3 (CPUCore+SSE.swift and the files it calls).
    case sse
    /// PUSH/POP FS/GS, LSS/LFS/LGS, LAR/LSL, POPCNT (CPUCore+LegacyTwoByte.swift).
    case legacyTwoByte
    /// The 0F 38 and 0F 3A maps (CPUCore+SSSE3.swift).
    case threeByte

    /// The handler whose raw value the precomputed dispatch tables hold, without `init(rawValue:)`'s range check
    /// (perf: a call on every decode). Sound because the cases have the implicit raw values 0, 1, 2... in order,
    /// which is also how Swift stores them; QuickResolution checks that once before it builds the tables, and the
    /// tables hold only raw values of cases.
    @inline(__always)
    init(tableValue: UInt8) { self = unsafeBitCast(tableValue, to: OpcodeHandler.self) }

    /// Whether the handler is in executeTwoByte's switch rather than executeOneByte's.
    @inline(__always) var runsInTwoByteMap: Bool { rawValue >= Self.jumpNearConditional.rawValue }
}

extension OpcodeHandler {
    /// Features of the maps the software CPU has no code for: their entries have no handler, so they are #UD (the
    /// model advertises none of them; OpcodeCoverageTests holds the two together). To implement one, write its
    /// code, bind its rows in `bound(to:)` if they need a new handler, and take it out of this set.
    static let unimplementedFeatures: Set<InstructionFeature> = [
        .sep, .avx, .movbe, .aes, .pclmul, .sha, .adx, .xsave, .xsaveopt, .xsaves, .vmx, .smx,
        .fsgsbase, .invpcid, .rtm, .pku, .clwb,
    ]

    /// The handler of one entry of the opcode maps, or nil when the software CPU does not implement it (and for
    /// reserved slots and prefixes, which never reach a handler).
    static func bound(to entry: OpcodeMapEntry) -> OpcodeHandler? {
        // The VEX prefixes are decoded although AVX is not implemented: BMI1 and BMI2 are VEX-encoded, and every
        // other opcode behind the prefix is #UD in CPUCore+BMI.swift.
        if entry.map == .oneByte && entry.feature == .avx && entry.opcode & 0xFE == 0xC4 { return .vex }
        guard entry.isInstruction, !unimplementedFeatures.contains(entry.feature) else { return nil }
        let op = Int(entry.opcode)
        switch entry.map {
        case .oneByte: return oneByte(op, group: entry.group.map(Int.init), in: entry.modes)
        case .twoByte: return entry.prefix == .repe && op & 0xFE == 0xBC ? .countZeros : twoByte(op)
        case .threeByte38, .threeByte3A: return .threeByte
        }
    }

    private static func oneByte(_ op: Int, group: Int?, in modes: CPUModes) -> OpcodeHandler? {
        switch op {
        case 0x00...0x3F where op & 7 < 4: return .arithmeticWithRegister
        case 0x00...0x3F where op & 7 < 6: return .arithmeticAccumulatorImmediate
        case 0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F: return .legacyOneByte
        case 0x40...0x4F: return .incrementDecrementRegister
        case 0x50...0x57: return .pushRegister
        case 0x58...0x5F: return .popRegister
        case 0x60, 0x61, 0x62: return .legacyOneByte
        case 0x63: return modes.contains(.long64) ? .moveSignExtendDoubleword : .legacyOneByte   // MOVSXD, ARPL
        case 0x68, 0x6A: return .pushImmediate
        case 0x69, 0x6B: return .multiplyImmediate
        case 0x6C...0x6F: return .portString
        case 0x70...0x7F: return .jumpShortConditional
        case 0x80, 0x81, 0x83: return .arithmeticImmediate
        case 0x82: return .legacyOneByte
        case 0x84, 0x85: return .testRegisterMemory
        case 0x86, 0x87: return .exchangeRegisterMemory
        case 0x88...0x8B: return .moveRegisterMemory
        case 0x8C: return .moveFromSegment
        case 0x8D: return .loadEffectiveAddress
        case 0x8E: return .moveToSegment
        case 0x8F: return .popMemory
        case 0x90...0x97: return .exchangeAccumulator
        case 0x98: return .convertAccumulator
        case 0x99: return .signExtendAccumulator
        case 0x9A: return .legacyOneByte
        case 0x9B: return .waitForFPU
        case 0x9C: return .pushFlags
        case 0x9D: return .popFlags
        case 0x9E: return .storeAHIntoFlags
        case 0x9F: return .loadAHFromFlags
        case 0xA0...0xA3: return .legacyOneByte
        case 0xA4...0xA7, 0xAA...0xAF: return .string
        case 0xA8, 0xA9: return .testAccumulatorImmediate
        case 0xB0...0xB7: return .moveImmediateByteToRegister
        case 0xB8...0xBF: return .moveImmediateToRegister
        case 0xC0, 0xC1, 0xD0...0xD3: return .shiftRotate
        case 0xC2, 0xC3: return .returnNear
        case 0xC4, 0xC5: return .legacyOneByte   // LES, LDS (VEX is an unimplemented feature)
        case 0xC6, 0xC7: return .moveImmediate   // /0 (XABORT, XBEGIN are RTM)
        case 0xC8: return .enter
        case 0xC9: return .leave
        case 0xCA, 0xCB: return .farReturn
        case 0xCC: return .breakpoint
        case 0xCD: return .interrupt
        case 0xCE: return .legacyOneByte
        case 0xCF: return .interruptReturn
        case 0xD4, 0xD5, 0xD6: return .legacyOneByte
        case 0xD7: return .translate
        case 0xD8...0xDF: return .x87
        case 0xE0...0xE2: return .loop
        case 0xE3: return .jumpIfCounterZero
        case 0xE4, 0xE5, 0xEC, 0xED: return .portIn
        case 0xE6, 0xE7, 0xEE, 0xEF: return .portOut
        case 0xE8: return .callNear
        case 0xE9: return .jumpNear
        case 0xEA: return .farJumpDirect
        case 0xEB: return .jumpShort
        case 0xF1: return .legacyOneByte
        case 0xF4: return .halt
        case 0xF5: return .complementCarry
        case 0xF6, 0xF7: return .unaryGroup
        case 0xF8: return .clearCarry
        case 0xF9: return .setCarry
        case 0xFA: return .clearInterrupts
        case 0xFB: return .setInterrupts
        case 0xFC: return .clearDirection
        case 0xFD: return .setDirection
        case 0xFE, 0xFF:
            switch group {
            case 0, 1: return .incrementDecrementMemory
            case 2: return .callIndirect
            case 3, 5: return .farIndirect
            case 4: return .jumpIndirect
            case 6: return .pushMemory
            default: return nil
            }
        default: return nil
        }
    }

    private static func twoByte(_ op: Int) -> OpcodeHandler? {
        switch op {
        case 0x00: return .systemSegment
        case 0x01: return .groupSeven
        case 0x02, 0x03: return .legacyTwoByte
        case 0x05: return .systemCall
        case 0x06: return .clearTaskSwitched
        case 0x07: return .systemReturn
        case 0x08, 0x09: return .invalidateCaches
        case 0x0D, 0x18...0x1F: return .hintNop
        case 0x20, 0x22: return .moveControlRegister
        case 0x21, 0x23: return .moveDebugRegister
        case 0x30: return .writeMSR
        case 0x31: return .readTimeStampCounter
        case 0x32: return .readMSR
        case 0x33: return .readPerformanceCounters
        case 0x40...0x4F: return .conditionalMove
        case 0x80...0x8F: return .jumpNearConditional
        case 0x90...0x9F: return .setByte
        case 0xA0, 0xA1, 0xA8, 0xA9: return .legacyTwoByte
        case 0xA2: return .cpuid
        case 0xA3, 0xAB, 0xB3, 0xBB, 0xBA: return .bitTest
        case 0xA4, 0xA5, 0xAC, 0xAD: return .doubleShift
        case 0xAE: return .fenceOrState
        case 0xAF: return .multiplySigned
        case 0xB0, 0xB1: return .compareExchange
        case 0xB2, 0xB4, 0xB5, 0xB8: return .legacyTwoByte
        case 0xB6, 0xB7, 0xBE, 0xBF: return .moveExtend
        case 0xBC, 0xBD: return .bitScan
        case 0xC0, 0xC1: return .exchangeAdd
        case 0xC7: return .groupNine
        case 0xC8...0xCF: return .byteSwap
        case _ where CPUCore.isSSEOpcode(op): return .sse
        default: return nil
        }
    }
}
