import ApusTesting
import ApusBoot
import ApusCore
import Testing

/// Random mutations of valid images: the loaders must either load them or throw a `BootError`, never crash (a trap
/// here kills the test process) and never let another error type escape.
@Suite struct LoaderFuzzTests {
    static let iterations = 10_000

    /// Applies 1-4 mutations, mostly in `hotRange` (where the headers are), sometimes anywhere, sometimes a
    /// truncation or an extreme multi-byte value.
    static func mutate(_ valid: [UInt8], hotRange: Range<Int>, using rng: inout SplitMix64) -> [UInt8] {
        var bytes = valid
        let extremes: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x8000_0000, 0xFFFF_FFFF, .max, .max - 0xFFF]
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<6:
                let hot = hotRange.clamped(to: 0..<bytes.count)
                let offset = Int.random(in: hot.isEmpty ? 0..<bytes.count : hot, using: &rng)
                bytes[offset] = UInt8.random(in: 0...255, using: &rng)
            case 6, 7:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 8:
                bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
            default:
                let size = [2, 4, 8].randomElement(using: &rng) ?? 4
                let range = hotRange.clamped(to: 0..<max(bytes.count - size, 0))
                guard !range.isEmpty else { continue }
                let value = extremes.randomElement(using: &rng) ?? 0
                let offset = Int.random(in: range, using: &rng)
                for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
            }
        }
        return bytes
    }

    struct Tally {
        var loaded = 0, refused = 0
        var foreignErrors: [String] = []

        mutating func record(_ body: () throws -> BootPlan, memory: GuestMemory) {
            do {
                let plan = try body()
                loaded += 1
                if !memory.contains(GuestAddress(plan.registers.rip), length: 1) {
                    foreignErrors.append("loaded with RIP \(plan.registers.rip) outside RAM")
                }
            } catch is BootError {
                refused += 1
            } catch {
                foreignErrors.append("\(type(of: error)): \(error)")
            }
        }
    }

    @Test(arguments: [true, false])
    func mutatedELFImagesLoadOrThrow(is64Bit: Bool) throws {
        let memory = try GuestMemory(size: 4 << 20)
        var builder = ELFBuilder()
        builder.is64Bit = is64Bit
        builder.segments.append(.init(physicalAddress: 0x110000, contents: [1, 2, 3, 4, 5, 6, 7, 8], memorySize: 0x100))
        let valid = builder.build()
        var rng = SplitMix64(seed: is64Bit ? 64 : 32)
        var tally = Tally()
        for _ in 0..<Self.iterations {
            let bytes = Self.mutate(valid, hotRange: 0..<builder.programHeader(2), using: &rng)
            tally.record({ try GuestImageLoader.load(bytes, into: memory) }, memory: memory)
        }
        print("LoaderFuzzTests: \(#function): loaded \(tally.loaded), refused \(tally.refused)")
        #expect(tally.foreignErrors.isEmpty, "\(tally.foreignErrors.prefix(5))")
        #expect(tally.loaded > 0 && tally.refused > 0, "loaded \(tally.loaded), refused \(tally.refused)")
    }

    @Test func mutatedBzImagesLoadOrThrow() throws {
        let memory = try GuestMemory(size: 8 << 20)
        let valid = BzImageBuilder().build()
        var rng = SplitMix64(seed: 0xB2)
        var tally = Tally()
        for _ in 0..<Self.iterations {
            let bytes = Self.mutate(valid, hotRange: 0x1F1..<0x270, using: &rng)
            tally.record({
                try LinuxBootLoader.load(kernel: bytes, initrd: [9, 9, 9], commandLine: "console=ttyS0", into: memory)
            }, memory: memory)
        }
        print("LoaderFuzzTests: \(#function): loaded \(tally.loaded), refused \(tally.refused)")
        #expect(tally.foreignErrors.isEmpty, "\(tally.foreignErrors.prefix(5))")
        #expect(tally.loaded > 0 && tally.refused > 0, "loaded \(tally.loaded), refused \(tally.refused)")
    }

    @Test func mutatedVmlinuxImagesLoadOrThrow() throws {
        let memory = try GuestMemory(size: 8 << 20)
        var builder = ELFBuilder()
        builder.entry = 0x20_0000
        builder.segments = [.init(physicalAddress: 0x20_0000, contents: [0x90, 0xF4], memorySize: 0x1000)]
        let valid = builder.build()
        var rng = SplitMix64(seed: 0x71)
        var tally = Tally()
        for _ in 0..<Self.iterations {
            let bytes = Self.mutate(valid, hotRange: 0..<builder.programHeader(1), using: &rng)
            tally.record({
                try LinuxBootLoader.load(kernel: bytes, initrd: [1], commandLine: "quiet", into: memory)
            }, memory: memory)
        }
        print("LoaderFuzzTests: \(#function): loaded \(tally.loaded), refused \(tally.refused)")
        #expect(tally.foreignErrors.isEmpty, "\(tally.foreignErrors.prefix(5))")
        #expect(tally.loaded > 0 && tally.refused > 0, "loaded \(tally.loaded), refused \(tally.refused)")
    }
}
