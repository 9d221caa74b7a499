import ApusBoot
import ApusCore
import Testing

@Suite struct ELFLoaderTests {
    @Test func loadsSegmentsAndZeroesTheirBSS() throws {
        let memory = try GuestMemory(size: 4 << 20)
        try memory.fill(0xEE, at: GuestAddress(0x100000), count: 0x2000)
        let plan = try GuestImageLoader.load(ELFBuilder().build(), into: memory)
        #expect(try memory.readBytes(at: GuestAddress(0x100000), count: 5) == [0xF4, 0x90, 0x90, 0x90, 0])
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x101FFF)) == 0)
        #expect(plan.registers.rip == 0x100000)
        #expect(plan.specialRegisters.efer == ControlRegister.eferLME | ControlRegister.eferLMA)
    }

    @Test func elf32EntersProtectedMode() throws {
        let memory = try GuestMemory(size: 4 << 20)
        var builder = ELFBuilder()
        builder.is64Bit = false
        let plan = try GuestImageLoader.load(builder.build(), into: memory)
        #expect(plan.specialRegisters.cr0 & ControlRegister.cr0PE != 0)
        #expect(plan.specialRegisters.cr0 & ControlRegister.cr0PG == 0)
        #expect(plan.specialRegisters.cs.db && !plan.specialRegisters.cs.l)
    }

    @Test func malformedFilesGiveTheirOwnError() throws {
        let memory = try GuestMemory(size: 4 << 20)
        let valid = ELFBuilder().build()
        func load(_ bytes: [UInt8]) throws { _ = try GuestImageLoader.load(bytes, into: memory) }

        var wrongMachine = valid; put(&wrongMachine, 18, 40, 2)
        #expect(throws: BootError.unsupportedMachine("ELF machine 40; expected x86-64 (62)")) { try load(wrongMachine) }
        #expect(throws: BootError.truncated("the ELF header")) { try load(Array(valid.prefix(20))) }
        var phoffPastEnd = valid; put(&phoffPastEnd, 32, 0xFFFF, 8)
        #expect(throws: BootError.truncated("the program header table")) { try load(phoffPastEnd) }
        var fileBiggerThanMemory = ELFBuilder(); fileBiggerThanMemory.segments[0].memorySize = 2
        #expect(throws: BootError.invalidELF("a segment's file size exceeds its memory size")) {
            try load(fileBiggerThanMemory.build())
        }
        var overflow = ELFBuilder(); overflow.segments[0].physicalAddress = .max - 1
        #expect(throws: BootError.segmentOutsideMemory(address: .max - 1, size: 0x2000)) { try load(overflow.build()) }
        var beyondRAM = ELFBuilder(); beyondRAM.segments[0].physicalAddress = 0x3FF000
        #expect(throws: BootError.segmentOutsideMemory(address: 0x3FF000, size: 0x2000)) { try load(beyondRAM.build()) }
        var overlapping = ELFBuilder()
        overlapping.segments.append(.init(physicalAddress: 0x101000, contents: [1], memorySize: 0x10))
        #expect(throws: BootError.overlappingSegments(0x100000, 0x101000)) { try load(overlapping.build()) }
        var lowArea = ELFBuilder(); lowArea.segments[0].physicalAddress = 0x9000
        #expect(throws: BootError.segmentInReservedArea(address: 0x9000)) { try load(lowArea.build()) }
    }

    @Test func flatImagesAreLimitedToTheirWindow() throws {
        let memory = try GuestMemory(size: 4 << 20)
        #expect(throws: BootError.imageTooLarge(size: 0x80000, limit: 0x78000)) {
            try GuestImageLoader.load([UInt8](repeating: 0x90, count: 0x80000), into: memory)
        }
        let plan = try GuestImageLoader.load([0xF4], into: memory)
        #expect(plan.registers.rip == 0x8000 && plan.specialRegisters.cs.base == 0)
    }

    @Test func randomMutationsLoadOrThrowButNeverCrash() throws {
        let memory = try GuestMemory(size: 4 << 20)
        let valid = ELFBuilder().build()
        var seed: UInt64 = 0x5EED
        for _ in 0..<10_000 {
            var bytes = valid
            for _ in 0..<4 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes[Int(seed >> 33) % bytes.count] = UInt8(truncatingIfNeeded: seed >> 17)
            }
            _ = try? GuestImageLoader.load(bytes, into: memory)
        }
    }
}
