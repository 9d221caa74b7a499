import ApusBoot
import ApusCore
import Testing

@Suite struct LinuxBootErrorTests {
    func load(_ kernel: [UInt8], initrd: [UInt8]? = nil, commandLine: String = "", memoryMiB: UInt64 = 16) throws {
        let memory = try GuestMemory(size: memoryMiB << 20)
        _ = try LinuxBootLoader.load(kernel: kernel, initrd: initrd, commandLine: commandLine, into: memory)
    }

    func bzImage(_ change: (inout BzImageBuilder) -> Void) -> [UInt8] {
        var builder = BzImageBuilder()
        change(&builder)
        return builder.build()
    }

    @Test func unsupportedKernelsAreRefused() throws {
        #expect(throws: BootError.emptyImage) { try load([]) }
        #expect(throws: BootError.notALinuxKernel(.flat)) { try load([1, 2, 3]) }
        var elf32 = ELFBuilder()
        elf32.is64Bit = false
        #expect(throws: BootError.notALinuxKernel(.elf32)) { try load(elf32.build()) }
        #expect(throws: BootError.unsupportedProtocol(0x0205)) { try load(bzImage { $0.version = 0x0205 }) }
        #expect(throws: BootError.no64BitEntry) { try load(bzImage { $0.xloadFlags = 0x02 }) }
        // Before 2.12 there is no xloadflags field to check.
        #expect(throws: Never.self) { try load(bzImage { $0.version = 0x020B; $0.xloadFlags = 0 }) }
        #expect(throws: BootError.invalidBzImage("it is a zImage, loaded low at 0x10000, which has no 64-bit entry")) {
            try load(bzImage { $0.loadFlags = 0 })
        }
    }

    @Test func malformedSetupHeadersAreRefused() throws {
        var noJump = BzImageBuilder().build()
        noJump[0x200] = 0x90
        #expect(throws: BootError.invalidBzImage("the setup header does not start with a short jump (0xEB) at 0x200")) {
            try load(noJump)
        }
        #expect(throws: BootError.invalidBzImage("its setup header ends at 0x240, which does not fit protocol 2.15")) {
            try load(bzImage { $0.headerEnd = 0x240 })
        }
        #expect(throws: BootError.invalidBzImage("its setup header ends at 0x300, which does not fit protocol 2.15")) {
            try load(bzImage { $0.headerEnd = 0x300 })
        }
        #expect(throws: BootError.invalidBzImage("its kernel_alignment 0x3000 is not a power of two")) {
            try load(bzImage { $0.kernelAlignment = 0x3000 })
        }
        var noBootFlag = BzImageBuilder().build()
        noBootFlag[0x1FE] = 0
        let memory = try GuestMemory(size: 16 << 20)
        #expect(throws: BootError.invalidBzImage("there is no boot flag 0xAA55 at offset 0x1FE")) {
            try BzImage(parsing: noBootFlag)
        }
        #expect(throws: BootError.notALinuxKernel(.flat)) {
            try LinuxBootLoader.load(kernel: noBootFlag, initrd: nil, commandLine: "", into: memory)
        }
    }

    @Test func truncatedBzImagesAreRefused() throws {
        let setup = BzImageBuilder().setupSize
        #expect(throws: BootError.truncated(what: "the protected-mode kernel", needed: UInt64(setup) + 1,
                                            fileSize: setup)) {
            try load(bzImage { $0.protectedMode = [] })
        }
        #expect(throws: BootError.truncated(what: "the protected-mode kernel (syssize)",
                                            needed: UInt64(setup) + 0x10000, fileSize: setup + 4096)) {
            try load(bzImage { $0.systemParagraphs = 0x1000 })
        }
        #expect(throws: BootError.truncated(what: "the setup header", needed: 0x26C, fileSize: 0x250)) {
            try BzImage(parsing: Array(BzImageBuilder().build().prefix(0x250)))
        }
    }

    @Test func kernelsMustFitInGuestMemory() throws {
        #expect(throws: BootError.memoryTooSmall(what: "the kernel's decompression window (init_size 8.0 MiB)",
                                                 needed: 0xA0_0000, available: 8 << 20)) {
            try load(bzImage { $0.initSize = 8 << 20 }, memoryMiB: 8)
        }
        #expect(throws: BootError.imageTooLarge(size: 8 << 20, limit: 7 << 20)) {
            try load(bzImage { $0.protectedMode = [UInt8](repeating: 0x90, count: 8 << 20) }, memoryMiB: 8)
        }
        #expect(throws: BootError.memoryTooSmall(what: "the boot tables below 1 MiB", needed: 0x100000,
                                                 available: 0x80000)) {
            let memory = try GuestMemory(size: 0x80000)
            _ = try LinuxBootLoader.load(kernel: BzImageBuilder().build(), initrd: nil, commandLine: "", into: memory)
        }
        var lowKernel = ELFBuilder()
        lowKernel.segments[0].physicalAddress = 0x9000
        lowKernel.entry = 0x9000
        #expect(throws: BootError.segmentInReservedArea(address: 0x9000, reservedEnd: 0x100000)) {
            try load(lowKernel.build())
        }
        var highKernel = ELFBuilder()
        highKernel.segments[0].physicalAddress = 0x100_0000
        highKernel.entry = 0x100_0000
        #expect(throws: BootError.segmentOutsideMemory(address: 0x100_0000, size: 0x2000, memorySize: 16 << 20)) {
            try load(highKernel.build())
        }
    }

    @Test func initrdLargerThanTheFreeMemoryIsRefused() throws {
        // 8 MiB of RAM; the kernel's window ends at 3 MiB, so 5 MiB are free for the initrd.
        #expect(throws: BootError.initrdTooLarge(size: 6 << 20, room: 5 << 20)) {
            try load(BzImageBuilder().build(), initrd: [UInt8](repeating: 1, count: 6 << 20), memoryMiB: 8)
        }
        #expect(throws: BootError.initrdTooLarge(size: 9 << 20, room: 5 << 20)) {
            try load(BzImageBuilder().build(), initrd: [UInt8](repeating: 1, count: 9 << 20), memoryMiB: 8)
        }
        #expect(throws: Never.self) {
            try load(BzImageBuilder().build(), initrd: [UInt8](repeating: 1, count: 5 << 20), memoryMiB: 8)
        }
    }

    @Test func commandLinesAreCheckedAgainstTheKernelsLimit() throws {
        #expect(throws: BootError.commandLineTooLong(length: 300, limit: 255)) {
            try load(bzImage { $0.commandLineSize = 255 }, commandLine: String(repeating: "x", count: 300))
        }
        #expect(throws: Never.self) {
            try load(bzImage { $0.commandLineSize = 255 }, commandLine: String(repeating: "x", count: 255))
        }
        // A header asking for more than the loader's one-page buffer gets the buffer's limit.
        #expect(throws: BootError.commandLineTooLong(length: 5000, limit: 4095)) {
            try load(bzImage { $0.commandLineSize = .max }, commandLine: String(repeating: "x", count: 5000))
        }
        var vmlinux = ELFBuilder()
        vmlinux.segments[0].physicalAddress = 0x20_0000
        vmlinux.entry = 0x20_0000
        #expect(throws: BootError.commandLineTooLong(length: 2048, limit: 2047)) {
            try load(vmlinux.build(), commandLine: String(repeating: "y", count: 2048))
        }
        #expect(throws: BootError.commandLineContainsNUL) { try load(BzImageBuilder().build(), commandLine: "a\0b") }
    }

    @Test func aRefusedBootLeavesGuestMemoryUntouched() throws {
        let memory = try GuestMemory(size: 8 << 20)
        #expect(throws: BootError.self) {
            try LinuxBootLoader.load(kernel: BzImageBuilder().build(), initrd: [UInt8](repeating: 1, count: 6 << 20),
                                     commandLine: "console=ttyS0", into: memory)
        }
        for address: UInt64 in [0x500, 0x7000, 0x9000, 0x20000, 0x100000, 0x7F_F000] {
            #expect(try memory.readBytes(at: GuestAddress(address), count: 16).allSatisfy { $0 == 0 })
        }
    }
}
