import ApusCore
import ApusTesting
import Testing
@testable import ApusSoftCPU

/// The translation tier against the interpreter: random blocks of the translatable subset, from random registers
/// and flags, run both ways must end with the same registers, RIP and defined flags.
@Suite struct TranslationEquivalenceTests {
    static let blocks = 100_000

    @Test func randomBlocksRunTranslatedEqualTheInterpreter() throws {
        let code: CodeMemory
        do { code = try CodeMemory() } catch {
            print("TranslationEquivalenceTests: skipping: \(error)")
            return
        }
        let machine = try SoftCPUTestMachine(code: [0xF4])
        let core = try #require(machine.vcpu as? SoftVCPU).core
        let base = SoftCPUTestMachine.codeBase
        var random = SplitMix64(seed: 0x15_0001)
        let registers = UnsafeMutablePointer<UInt64>.allocate(capacity: 16)
        let flags = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { registers.deallocate(); flags.deallocate() }
        var failures = 0
        var instructions = 0
        for n in 0..<Self.blocks {
            let block = RandomBlock.make(&random, length: Int.random(in: 1...12, using: &random))
            let translation = block.bytes.withUnsafeBytes { raw in
                BlockTranslator.translate(GuestBlockDecoder(bytes: raw.baseAddress!, available: raw.count), offset: 0, rip: base)
            }
            guard let translation, translation.instructions == block.instructions,
                  translation.length == block.bytes.count else {
                Issue.record("block \(n) \(hex(block.bytes)): translated \(String(describing: translation?.instructions)) of \(block.instructions) instructions")
                failures += 1
                if failures > 5 { return }
                continue
            }
            var start = try code.install(translation.code)
            if start == nil { code.reset(); start = try code.install(translation.code) }
            let entry = unsafeBitCast(try #require(start), to: TranslationTier.Block.self)

            let initial = (0..<16).map { _ in Self.interestingValue(&random) }
            let initialFlags = UInt64.random(in: 0...UInt64.max, using: &random) & Flag.arithmetic | Flag.fixed | Flag.if
            for i in 0..<16 { registers[i] = initial[i] }
            flags.pointee = initialFlags
            let translatedRIP = entry(registers, flags)

            try machine.memory.write(block.bytes, at: GuestAddress(base))
            core.absorbHostWrites()
            for i in 0..<16 { core.gpr[i] = initial[i] }
            core.rip = base
            core.rflags = initialFlags
            for _ in 0..<block.instructions { _ = try core.step() }
            instructions += block.instructions

            let compared = ~block.undefinedFlags
            let same = (0..<16).allSatisfy { core.gpr[$0] == registers[$0] } && core.rip == translatedRIP
                && core.rflags & compared == flags.pointee & compared
            if !same {
                failures += 1
                let differing = (0..<16).filter { core.gpr[$0] != registers[$0] }
                    .map { "r\($0): interpreter \(hex64(core.gpr[$0])) translated \(hex64(registers[$0])) (was \(hex64(initial[$0])))" }
                Issue.record("""
                    block \(n) \(hex(block.bytes)): \(differing.joined(separator: ", ")); rip \(hex64(core.rip)) vs \
                    \(hex64(translatedRIP)); flags \(hex64(core.rflags)) vs \(hex64(flags.pointee)) (compared \(hex64(compared)), \
                    from \(hex64(initialFlags)))
                    """)
                if failures > 5 { return }
            }
        }
        print("TranslationEquivalenceTests: \(Self.blocks) blocks, \(instructions) guest instructions compared")
    }

    /// Registers worth testing: small numbers, sign and carry boundaries, and arbitrary bits.
    static func interestingValue(_ random: inout SplitMix64) -> UInt64 {
        switch Int.random(in: 0..<6, using: &random) {
        case 0: return UInt64.random(in: 0...70, using: &random)
        case 1: return [0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, .max].randomElement(using: &random)!
        case 2: return UInt64.max &- UInt64.random(in: 0...70, using: &random)
        default: return UInt64.random(in: 0...UInt64.max, using: &random)
        }
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ") }
func hex64(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
