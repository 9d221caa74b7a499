import ApusBoot
import ApusCore
import Testing

@Suite struct GuestImageLoaderTests {
    @Test func elf64LoadsSegmentsZeroesTheBSSAndEntersLongMode() throws {
        let memory = try GuestMemory(size: 4 << 20)
        try memory.fill(0xEE, at: GuestAddress(0x100000), count: 0x3000)
        var builder = ELFBuilder()
        builder.segments.append(.init(physicalAddress: 0x102000, contents: [7, 8], memorySize: 2))
        let plan = try GuestImageLoader.load(builder.build(), into: memory)
        #expect(try memory.readBytes(at: GuestAddress(0x100000), count: 5) == [0xF4, 0x90, 0x90, 0x90, 0])
        #expect(try memory.readBytes(at: GuestAddress(0x101FFE), count: 6) == [0, 0, 7, 8, 0xEE, 0xEE])
        #expect(plan.registers.rip == 0x100000 && plan.registers.rsp == 0x80000)
        #expect(plan.specialRegisters.efer == ControlRegister.eferLME | ControlRegister.eferLMA)
        #expect(plan.specialRegisters.cs.l && plan.specialRegisters.cs.selector == 0x08)
        #expect(plan.summary == "ELF64 image, long mode, 2 segments at 0x100000-0x102002, entry 0x100000")
    }

    @Test func elf32EntersProtectedModeWithoutPaging() throws {
        let memory = try GuestMemory(size: 4 << 20)
        var builder = ELFBuilder()
        builder.is64Bit = false
        let plan = try GuestImageLoader.load(builder.build(), into: memory)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x100000)) == 0xF4)
        #expect(plan.specialRegisters.cr0 & ControlRegister.cr0PE != 0)
        #expect(plan.specialRegisters.cr0 & ControlRegister.cr0PG == 0 && plan.specialRegisters.efer == 0)
        #expect(plan.specialRegisters.cs.db && !plan.specialRegisters.cs.l)
        #expect(plan.registers.rip == 0x100000 && plan.registers.rsp == 0x80000)
        #expect(plan.summary.hasPrefix("ELF32 image, protected mode, 1 segment at 0x100000-0x102000"))
    }

    @Test func segmentsMustLieInRAMAboveTheReservedArea() throws {
        let memory = try GuestMemory(size: 4 << 20)
        var beyondRAM = ELFBuilder()
        beyondRAM.segments[0].physicalAddress = 0x3FF000
        beyondRAM.entry = 0x3FF000
        #expect(throws: BootError.segmentOutsideMemory(address: 0x3FF000, size: 0x2000, memorySize: 4 << 20)) {
            try GuestImageLoader.load(beyondRAM.build(), into: memory)
        }
        var lowArea = ELFBuilder()
        lowArea.segments[0].physicalAddress = 0x9000
        lowArea.entry = 0x9000
        #expect(throws: BootError.segmentInReservedArea(address: 0x9000, reservedEnd: 0x100000)) {
            try GuestImageLoader.load(lowArea.build(), into: memory)
        }
        var unmappedEntry = ELFBuilder()
        unmappedEntry.segments[0].physicalAddress = 0x1_0000_0000
        unmappedEntry.entry = 0x1_0000_0000
        #expect(throws: BootError.entryNotMapped(entry: 0x1_0000_0000)) {
            try GuestImageLoader.load(unmappedEntry.build(), into: memory)
        }
    }

    @Test func flatImagesLoadAt0x8000InRealMode() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let plan = try GuestImageLoader.load([0xFA, 0xF4], into: memory)
        #expect(try memory.readBytes(at: GuestAddress(0x8000), count: 2) == [0xFA, 0xF4])
        #expect(plan.registers.rip == 0x8000 && plan.registers.rsp == 0x7000 && plan.registers.rflags == 0x2)
        #expect(plan.specialRegisters.cs.base == 0 && plan.specialRegisters.cs.selector == 0)
        #expect(plan.specialRegisters.cr0 & ControlRegister.cr0PE == 0)
        #expect(plan.summary == "flat image, 2 bytes at 0x8000, real mode, entry 0000:8000")
    }

    @Test func flatImagesAreLimitedToTheirWindow() throws {
        let memory = try GuestMemory(size: 1 << 20)
        #expect(throws: Never.self) { try GuestImageLoader.load([UInt8](repeating: 0x90, count: 0x78000), into: memory) }
        #expect(throws: BootError.imageTooLarge(size: 0x78001, limit: 0x78000)) {
            try GuestImageLoader.load([UInt8](repeating: 0x90, count: 0x78001), into: memory)
        }
        #expect(throws: BootError.emptyImage) { try GuestImageLoader.load([], into: memory) }
        let tiny = try GuestMemory(size: 0x9000)
        #expect(throws: BootError.memoryTooSmall(what: "a flat image at 0x8000", needed: 0xA000, available: 0x9000)) {
            try GuestImageLoader.load([UInt8](repeating: 0x90, count: 0x2000), into: tiny)
        }
    }

    @Test func aBzImageIsNotAGuestImage() throws {
        let memory = try GuestMemory(size: 4 << 20)
        #expect(throws: BootError.linuxKernelAsGuestImage) {
            try GuestImageLoader.load(BzImageBuilder().build(), into: memory)
        }
    }
}
