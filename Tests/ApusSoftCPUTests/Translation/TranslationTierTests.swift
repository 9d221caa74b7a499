import ApusBoot
import ApusCore
import Foundation
import Testing
@testable import ApusSoftCPU

/// The translation tier inside a running vCPU: hot loops run as host code with the interpreter's results, code the
/// VMM rewrites is translated again, and translated code is never writable and executable at once.
@Suite struct TranslationTierTests {
    /// A 64-bit machine like SoftCPUTestMachine's, on the translation tier, or nil (printed) when the host refuses it.
    static func machine(_ code: [UInt8]) throws -> (GuestMemory, SoftVCPU, TranslationTier)? {
        let memory = try GuestMemory(size: 4 << 20)
        try memory.write(code, at: GuestAddress(SoftCPUTestMachine.codeBase))
        let machine = try SoftCPUHypervisor(tier: .translate).makeMachine(memory: memory, options: MachineOptions())
        let vcpu = try #require(try machine.makeVCPU(index: 0) as? SoftVCPU)
        guard let tier = vcpu.translation else {
            print("TranslationTierTests: skipping: this host refuses executable memory for translated code")
            return nil
        }
        var (registers, special) = try EntryState.longMode(entry: SoftCPUTestMachine.codeBase, stack: 0x80000, memory: memory)
        registers.rflags = 2
        try vcpu.setSpecialRegisters(special)
        try vcpu.setRegisters(registers)
        return (memory, vcpu, tier)
    }

    @Test func aHotLoopRunsTranslatedWithTheInterpretersResult() throws {
        let code: [UInt8] = [
            0xB9, 0xE8, 0x03, 0x00, 0x00,   // mov ecx, 1000
            0x48, 0x01, 0xC8,               // l: add rax, rcx
            0x48, 0x6B, 0xD8, 0x03,         // imul rbx, rax, 3
            0x48, 0x31, 0xDA,               // xor rdx, rbx
            0xFF, 0xC9,                     // dec ecx
            0x75, 0xF2,                     // jnz l
            0xF4,                           // hlt
        ]
        guard let (_, vcpu, tier) = try Self.machine(code) else { return }
        #expect(try vcpu.run().kind == "halt")
        var rax: UInt64 = 0, rbx: UInt64 = 0, rdx: UInt64 = 0
        for rcx in stride(from: UInt64(1000), through: 1, by: -1) {
            rax &+= rcx
            rbx = rax &* 3
            rdx ^= rbx
        }
        let registers = try vcpu.registers()
        #expect(registers.rax == rax && registers.rbx == rbx && registers.rdx == rdx && registers.rcx == 0)
        #expect(registers.rip == SoftCPUTestMachine.codeBase + UInt64(code.count))
        // 16 interpreted passes make the loop hot; the rest (5 instructions each) run translated.
        #expect(tier.translatedInstructions >= 5 * 900)
        #expect(tier.blocksTranslated >= 1)
    }

    @Test func codeTheVMMRewritesIsTranslatedAgain() throws {
        let code: [UInt8] = [
            0xB9, 0x64, 0x00, 0x00, 0x00,   // start: mov ecx, 100
            0xBB, 0x11, 0x11, 0x11, 0x11,   // l: mov ebx, 0x11111111   (immediate at +6)
            0x48, 0x01, 0xD8,               // add rax, rbx
            0xFF, 0xC9,                     // dec ecx
            0x75, 0xF4,                     // jnz l
            0xE6, 0x80,                     // out 0x80, al
            0xEB, 0xEB,                     // jmp start
        ]
        guard let (memory, vcpu, tier) = try Self.machine(code) else { return }
        #expect(try vcpu.run().kind == "pio")
        #expect(try vcpu.registers().rax == 100 * 0x1111_1111)
        let translated = tier.translatedInstructions
        #expect(translated > 0)
        try memory.write(UInt32(0x2222_2222), at: GuestAddress(SoftCPUTestMachine.codeBase + 6))
        #expect(try vcpu.run().kind == "pio")
        #expect(try vcpu.registers().rax == 100 * 0x1111_1111 + 100 * 0x2222_2222)
        #expect(tier.translatedInstructions > translated)
    }

    @Test func translatedCodeIsNeverWritableAndExecutableAtOnce() throws {
        let code: [UInt8] = [
            0xB9, 0x40, 0x00, 0x00, 0x00,   // mov ecx, 64
            0x48, 0xFF, 0xC0,               // l: inc rax
            0xFF, 0xC9,                     // dec ecx
            0x75, 0xF9,                     // jnz l
            0xF4,                           // hlt
        ]
        guard let (_, vcpu, tier) = try Self.machine(code) else { return }
        var seenWhileWritable: [String] = []
        tier.whileWritable = { start, length in
            seenWhileWritable += Self.permissions(UInt(bitPattern: start), length)
        }
        #expect(try vcpu.run().kind == "halt")
        #expect(try vcpu.registers().rax == 64)
        #expect(tier.blocksTranslated >= 1)
        #expect(!seenWhileWritable.isEmpty)
        #expect(seenWhileWritable.allSatisfy { $0.hasPrefix("rw-") }, "while written: \(seenWhileWritable)")
        let region = tier.codeRegion
        let after = Self.permissions(UInt(bitPattern: region.start), region.length)
        #expect(after.contains { $0.hasPrefix("r-x") }, "after: \(after)")
        #expect(!after.contains { $0.contains("w") && $0.contains("x") }, "after: \(after)")
    }

    /// The permissions of every /proc/self/maps line overlapping [start, start + length).
    static func permissions(_ start: UInt, _ length: Int) -> [String] {
        let maps = readMaps()
        var found: [String] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ")
            let range = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            guard range.count == 2, range[0] < start + UInt(length), range[1] > start else { continue }
            found.append(String(fields[1]))
        }
        return found
    }

    /// /proc/self/maps read to its end with read(2): it reports a size of 0, and in a test process with many threads
    /// and mappings a whole-file read through Foundation came back empty now and then (seen in a CI run).
    static func readMaps() -> String {
        let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
