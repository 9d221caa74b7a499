import ApusTesting

/// The seeded instruction groups the CPL3 suite runs, each with its own stream of cases.
enum CaseGroup: String, CaseIterable, Sendable, CustomStringConvertible {
    case alu, memory, control, flags, paging, exceptions, sse
    case sseFloat = "sse-float"
    case sseMMX = "sse-mmx"
    case sse4, bmi
    case x87
    case x87Unmasked = "x87-unmasked"
    case legacy
    case randomBytes = "random-bytes"
    case opcodeMap = "opcode-map"
    case segmentLoads = "segment-loads"

    var description: String { rawValue }

    /// Cases per run by default (APUS_EQUIVALENCE_CASES overrides it for every group); together at least 100,000.
    var defaultCount: Int {
        switch self {
        case .alu: return 40_000
        case .memory: return 15_000
        case .control: return 20_000
        case .flags: return 15_000
        case .paging: return 15_000
        case .exceptions: return 10_000
        case .sse: return 10_000
        case .sseFloat: return 10_000
        case .sseMMX: return 10_000
        case .sse4: return 10_000
        case .bmi: return 10_000
        case .x87: return 10_000
        case .x87Unmasked: return 5_000
        case .legacy: return 5_000
        case .randomBytes: return 100_000
        case .opcodeMap: return 10_000
        case .segmentLoads: return 5_000
        }
    }

    /// Each group draws from its own stream, derived from the run's seed and the group's name.
    func seed(_ runSeed: UInt64) -> UInt64 {
        rawValue.utf8.reduce(runSeed ^ 0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    /// An endless stream of cases for `runSeed`.
    func cases(seed runSeed: UInt64) -> AnyIterator<UserCase> {
        let rng = SplitMix64(seed: seed(runSeed))
        switch self {
        case .alu:
            var generator = ALUCaseGenerator(rng: rng)
            return AnyIterator {
                var (instruction, registers) = generator.nextCase()
                registers.rflags |= 0x200
                return UserCase(group: "alu", code: instruction.code, description: instruction.description,
                                registers: registers, undefinedFlags: instruction.undefinedFlags)
            }
        case .memory:
            var generator = MemoryOperandCases(rng: rng)
            return AnyIterator { generator.next() }
        case .control:
            var generator = ControlFlowCases(rng: rng)
            return AnyIterator { generator.next() }
        case .flags:
            var generator = FlagCases(rng: rng)
            return AnyIterator { generator.next() }
        case .paging:
            var generator = PagingFaultCases(rng: rng)
            return AnyIterator { generator.next() }
        case .exceptions:
            var generator = ExceptionCases(rng: rng)
            return AnyIterator { generator.next() }
        case .sse:
            var generator = SSECases(rng: rng)
            return AnyIterator { generator.next() }
        case .sseFloat:
            var generator = SSEFloatCases(rng: rng)
            return AnyIterator { generator.next() }
        case .sseMMX:
            var generator = SSEMMXCases(rng: rng)
            return AnyIterator { generator.next() }
        case .sse4:
            var generator = SSE4Cases(rng: rng)
            return AnyIterator { generator.next() }
        case .bmi:
            var generator = BMICases(rng: rng)
            return AnyIterator { generator.next() }
        case .x87Unmasked:
            var generator = X87UnmaskedCases(rng: rng)
            return AnyIterator { generator.next() }
        case .x87:
            var generator = X87Cases(rng: rng)
            return AnyIterator { generator.next() }
        case .legacy:
            var generator = LegacyInstructionCases(rng: rng)
            return AnyIterator { generator.next() }
        case .randomBytes:
            var generator = RandomByteCases(rng: rng)
            return AnyIterator { generator.next() }
        case .opcodeMap:
            print(OpcodeMapCases.summary)
            var generator = OpcodeMapCases(rng: rng)
            return AnyIterator { generator.next() }
        case .segmentLoads:
            print(SegmentLoadCases.summary)
            var generator = SegmentLoadCases(rng: rng)
            return AnyIterator { generator.next() }
        }
    }
}
