import ApusBoot
import ApusCore
import Testing

/// Checks boot_params against the offsets in the kernel's Documentation/arch/x86/boot.rst and zero-page.rst.
@Suite struct ZeroPageLayoutTests {
    func zeroPage(_ memory: GuestMemory) throws -> [UInt8] {
        try memory.readBytes(at: GuestAddress(0x7000), count: 4096)
    }

    @Test func bzImageSetupHeaderAndLoaderFieldsSitAtTheirDocumentedOffsets() throws {
        let memory = try GuestMemory(size: 64 << 20)
        var kernel = BzImageBuilder().build()
        kernel[0x270] = 0xCC                    // setup code just past the header's end: must not be copied
        let initrd = [UInt8](repeating: 0x42, count: 10_000)
        let plan = try LinuxBootLoader.load(kernel: kernel, initrd: initrd, commandLine: "console=ttyS0",
                                            into: memory)
        let page = try zeroPage(memory)
        #expect(page[0x1F1] == 2)                                       // setup_sects, copied
        #expect(get(page, 0x1FE, 2) == 0xAA55)                          // boot_flag
        #expect(get(page, 0x200, 2) == 0x6AEB)                          // jump: header ends at 0x202 + 0x6A
        #expect(get(page, 0x202, 4) == 0x5372_6448)                     // "HdrS"
        #expect(get(page, 0x206, 2) == 0x020F)                          // version
        #expect(get(page, 0x20E, 2) == 0x100)                           // kernel_version, copied
        #expect(page[0x210] == 0xFF)                                    // type_of_loader: undefined
        #expect(page[0x211] == 0x81)                                    // loadflags: LOADED_HIGH | CAN_USE_HEAP
        #expect(get(page, 0x214, 4) == 0x100000)                        // code32_start
        let ramdisk = get(page, 0x218, 4)                               // ramdisk_image
        #expect(ramdisk == 0x3FFD000)                                   // page-aligned at the top of 64 MiB
        #expect(get(page, 0x21C, 4) == 10_000)                          // ramdisk_size
        #expect(get(page, 0x224, 2) == 0xDE00)                          // heap_end_ptr
        #expect(get(page, 0x228, 4) == 0x20000)                         // cmd_line_ptr
        #expect(get(page, 0x22C, 4) == 0x7FFF_FFFF)                     // initrd_addr_max, copied
        #expect(get(page, 0x230, 4) == 0x20_0000)                       // kernel_alignment, copied
        #expect(page[0x234] == 1)                                       // relocatable_kernel, copied
        #expect(get(page, 0x236, 2) == 1)                               // xloadflags, copied
        #expect(get(page, 0x238, 4) == 2047)                            // cmdline_size, copied
        #expect(get(page, 0x258, 8) == 0x20_0000)                       // pref_address, copied
        #expect(get(page, 0x260, 4) == 0x10_0000)                       // init_size, copied
        #expect(page[0x26C..<0x290].allSatisfy { $0 == 0 })             // nothing past the header's end
        #expect(page[0..<0x1E8].allSatisfy { $0 == 0 })                 // screen_info ... ext_* fields: zero
        #expect(page[0x1EF] == 0)                                       // sentinel
        #expect(try memory.readBytes(at: GuestAddress(ramdisk), count: 10_000) == initrd)
        #expect(try memory.readBytes(at: GuestAddress(0x20000), count: 14) == Array("console=ttyS0\0".utf8))
        #expect(try memory.readBytes(at: GuestAddress(0x100000), count: 3) == [0xE9, 0x5A, 0xA5])
        #expect(plan.registers.rip == 0x100200 && plan.registers.rsi == 0x7000 && plan.registers.rflags == 0x2)
        #expect(plan.summary == "bzImage kernel 6.1.0-apus-test (boot protocol 2.15), 4.0 KiB at 0x100000, "
                + "entry 0x100200, initrd 9.7 KiB at 0x3ffd000")
    }

    @Test func e820MapDescribesRAMAndTheLegacyHole() throws {
        let memory = try GuestMemory(size: 64 << 20)
        _ = try LinuxBootLoader.load(kernel: BzImageBuilder().build(), initrd: nil, commandLine: "", into: memory)
        let page = try zeroPage(memory)
        #expect(page[0x1E8] == 3)                                       // e820_entries
        func entry(_ index: Int) -> [UInt64] {
            let base = 0x2D0 + index * 20                               // e820_table, 20-byte entries
            return [get(page, base, 8), get(page, base + 8, 8), get(page, base + 16, 4)]
        }
        #expect(entry(0) == [0, 0x9FC00, 1])
        #expect(entry(1) == [0x9FC00, 0x100000 - 0x9FC00, 2])
        #expect(entry(2) == [0x100000, (64 << 20) - 0x100000, 1])
        #expect(entry(3) == [0, 0, 0])
        #expect(get(page, 0x218, 4) == 0 && get(page, 0x21C, 4) == 0)  // no initrd
    }

    @Test func e820MapFollowsSeveralMemoryRegions() throws {
        let memory = try GuestMemory(layout: [(GuestAddress(0), 1 << 20), (GuestAddress(16 << 20), 16 << 20)])
        var vmlinux = ELFBuilder()
        vmlinux.entry = 0x100_0000
        vmlinux.segments = [.init(physicalAddress: 0x100_0000, contents: [0x90], memorySize: 0x1000)]
        _ = try LinuxBootLoader.load(kernel: vmlinux.build(), initrd: [1, 2, 3], commandLine: "", into: memory)
        let page = try zeroPage(memory)
        #expect(page[0x1E8] == 3)
        #expect(get(page, 0x2D0 + 40, 8) == 16 << 20 && get(page, 0x2D0 + 48, 8) == 16 << 20)
        #expect(get(page, 0x218, 4) == (32 << 20) - 0x1000)            // top of the high region
    }

    @Test func vmlinuxGetsASynthesizedSetupHeader() throws {
        let memory = try GuestMemory(size: 64 << 20)
        var vmlinux = ELFBuilder()
        vmlinux.entry = 0x100_0000
        vmlinux.segments = [
            .init(physicalAddress: 0x100_0000, contents: [0x48, 0x31, 0xC0], memorySize: 0x2000),
            .init(physicalAddress: 0x120_0000, contents: [5], memorySize: 0x10_0000),
        ]
        let plan = try LinuxBootLoader.load(kernel: vmlinux.build(), initrd: [UInt8](repeating: 7, count: 3 << 20),
                                            commandLine: "console=ttyS0 quiet", into: memory)
        let page = try zeroPage(memory)
        #expect(page[0x1F1] == 0)
        #expect(get(page, 0x1FE, 2) == 0xAA55)
        #expect(get(page, 0x202, 4) == 0x5372_6448)
        #expect(get(page, 0x206, 2) == 0x020F)
        #expect(page[0x210] == 0xFF && page[0x211] == 0x81)
        #expect(get(page, 0x224, 2) == 0xDE00)
        #expect(get(page, 0x228, 4) == 0x20000)
        #expect(get(page, 0x22C, 4) == 0x7FFF_FFFF)
        #expect(get(page, 0x238, 4) == 2047)
        #expect(get(page, 0x218, 4) == (64 << 20) - (3 << 20) && get(page, 0x21C, 4) == 3 << 20)
        #expect(page[0x1E8] == 3)
        #expect(try memory.readBytes(at: GuestAddress(0x100_0000), count: 4) == [0x48, 0x31, 0xC0, 0])
        #expect(try memory.readBytes(at: GuestAddress(0x120_0000), count: 2) == [5, 0])
        #expect(try memory.readBytes(at: GuestAddress(0x20000), count: 20) == Array("console=ttyS0 quiet\0".utf8))
        #expect(plan.registers.rip == 0x100_0000 && plan.registers.rsi == 0x7000 && plan.registers.rsp == 0x9000)
        #expect(plan.summary == "ELF64 kernel, 2 segments at 0x1000000-0x1300000, entry 0x1000000, "
                + "initrd 3.0 MiB at 0x3d00000")
    }

    @Test func linuxIsEnteredWithTheBootProtocolsSelectors() throws {
        let memory = try GuestMemory(size: 64 << 20)
        let plan = try LinuxBootLoader.load(kernel: BzImageBuilder().build(), initrd: nil, commandLine: "",
                                            into: memory)
        let special = plan.specialRegisters
        #expect(special.cs.selector == 0x10 && special.cs.l && !special.cs.db)          // __BOOT_CS
        for data in [special.ds, special.es, special.ss] { #expect(data.selector == 0x18) }  // __BOOT_DS
        #expect(special.cr0 == 0x8000_0033 && special.cr4 == 0x20 && special.efer == 0x500 && special.cr3 == 0x9000)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x508)) == 0)                  // unused slot
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x510)) == 0x00AF_9B00_0000_FFFF)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x518)) == 0x00CF_9300_0000_FFFF)
        #expect(plan.registers.rflags == 0x2)                                                // interrupts off
    }

    @Test func initrdStaysBelowInitrdAddrMaxAndAboveTheDecompressionWindow() throws {
        let memory = try GuestMemory(size: 64 << 20)
        var builder = BzImageBuilder()
        builder.initrdAddressMax = 0x5F_FFFF
        _ = try LinuxBootLoader.load(kernel: builder.build(), initrd: [UInt8](repeating: 1, count: 0x1000),
                                     commandLine: "", into: memory)
        #expect(get(try zeroPage(memory), 0x218, 4) == 0x5F_F000)

        // The window is [0x200000, 0x200000 + init_size); with init_size 60 MiB only 2 MiB remain above it.
        let tight = try GuestMemory(size: 64 << 20)
        builder = BzImageBuilder()
        builder.initSize = 60 << 20
        _ = try LinuxBootLoader.load(kernel: builder.build(), initrd: [UInt8](repeating: 1, count: 2 << 20),
                                     commandLine: "", into: tight)
        #expect(get(try zeroPage(tight), 0x218, 4) == 62 << 20)
        #expect(throws: BootError.initrdTooLarge(size: (2 << 20) + 1, room: 2 << 20)) {
            try LinuxBootLoader.load(kernel: builder.build(), initrd: [UInt8](repeating: 1, count: (2 << 20) + 1),
                                     commandLine: "", into: tight)
        }
    }
}
