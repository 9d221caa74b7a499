import ApusBoot
import ApusCore
import Testing

/// The Multiboot v1 loader: header search, both ways of loading (ELF and the header's address fields), the
/// information structure the kernel reads, and refusals of hostile headers.
@Suite struct MultibootLoaderTests {
    static let magic: UInt32 = 0x1BAD_B002

    /// A non-ELF kernel loaded by its address fields: 16 bytes of padding, the header at file offset 16 meant for
    /// 0x100010, code after it, and 0x1000 bytes of BSS.
    static func addressFieldImage(flags: UInt32 = 1 << 16, header: UInt32 = 0x100010, load: UInt32 = 0x100000,
                                  loadEnd: UInt32 = 0, bssEnd: UInt32 = 0x102000, entry: UInt32 = 0x100030) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x90, count: 0x40)
        put(&bytes, 16, UInt64(magic), 4)
        put(&bytes, 20, UInt64(flags), 4)
        put(&bytes, 24, UInt64(UInt32(0) &- magic &- flags), 4)
        for (index, value) in [header, load, loadEnd, bssEnd, entry].enumerated() { put(&bytes, 28 + 4 * index, UInt64(value), 4) }
        bytes[0x30] = 0xF4
        return bytes
    }

    static func elfWithHeader(flags: UInt32 = 0) -> [UInt8] {
        var builder = ELFBuilder()
        builder.is64Bit = false
        var code = [UInt8](repeating: 0x90, count: 64)
        put(&code, 8, UInt64(magic), 4)
        put(&code, 12, UInt64(flags), 4)
        put(&code, 16, UInt64(UInt32(0) &- magic &- flags), 4)
        builder.segments[0].contents = code
        return builder.build()
    }

    func word(_ memory: GuestMemory, _ address: UInt64) throws -> UInt32 { try memory.read(UInt32.self, at: GuestAddress(address)) }

    func string(_ memory: GuestMemory, _ address: UInt32) throws -> String {
        let bytes = try memory.readBytes(at: GuestAddress(UInt64(address)), count: 256)
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    @Test func theHeaderIsFoundOnlyWithAValidChecksumInTheFirst8KiB() {
        var bytes = Self.addressFieldImage()
        #expect(MultibootHeader.find(in: bytes)?.offset == 16)
        #expect(MultibootHeader.find(in: bytes)?.addresses?.entry == 0x100030)
        bytes[24] ^= 1
        #expect(MultibootHeader.find(in: bytes) == nil, "a wrong checksum")
        var late = [UInt8](repeating: 0, count: 8192) + Self.addressFieldImage()
        #expect(MultibootHeader.find(in: late) == nil, "past the first 8 KiB")
        late.removeFirst(4)
        #expect(MultibootHeader.find(in: late) == nil)
        #expect(MultibootHeader.find(in: [0x02, 0xB0, 0xAD]) == nil)
    }

    @Test func addressFieldsLoadTheImageZeroTheBSSAndEnterWithTheMagic() throws {
        let memory = try GuestMemory(size: 8 << 20)
        try memory.fill(0xEE, at: GuestAddress(0x100000), count: 0x3000)
        let image = Self.addressFieldImage()
        let plan = try MultibootLoader.load(image, commandLine: "kernel quiet", modules: [], into: memory)
        #expect(try memory.readBytes(at: GuestAddress(0x100000), count: image.count) == image)
        #expect(try memory.readBytes(at: GuestAddress(0x100000 + UInt64(image.count)), count: 4) == [0, 0, 0, 0])
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x101FFF)) == 0)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x102000)) == 0xEE, "nothing past bss_end_addr")
        #expect(plan.registers.rip == 0x100030)
        #expect(plan.registers.rax == 0x2BAD_B002)
        #expect(plan.registers.rbx == MultibootInfo.address)
        #expect(plan.specialRegisters.cr0 & ControlRegister.cr0PE != 0 && plan.specialRegisters.cr0 & ControlRegister.cr0PG == 0)
        #expect(plan.specialRegisters.cs.db && !plan.specialRegisters.cs.l, "32-bit flat code")
    }

    @Test func theInformationStructureDescribesMemoryCommandLineAndModules() throws {
        let memory = try GuestMemory(size: 8 << 20)
        let modules = [MultibootModule(bytes: Array("first module\n".utf8), string: "one arg"),
                       MultibootModule(bytes: [UInt8](repeating: 7, count: 5000), string: "two")]
        _ = try MultibootLoader.load(Self.elfWithHeader(flags: 3), commandLine: "kernel a=b", modules: modules,
                                     into: memory)
        let info = MultibootInfo.address
        #expect(try word(memory, info) == 0x24D, "mem, cmdline, mods, mmap, loader name")
        #expect(try word(memory, info + 4) == 639)
        #expect(try word(memory, info + 8) == 7 * 1024)
        #expect(try string(memory, try word(memory, info + 16)) == "kernel a=b")
        #expect(try string(memory, try word(memory, info + 64)) == "Apus")
        #expect(try word(memory, info + 20) == 2)
        let list = UInt64(try word(memory, info + 24))
        let first = (try word(memory, list), try word(memory, list + 4))
        let second = (try word(memory, list + 16), try word(memory, list + 20))
        // The ELF's one segment ends at 0x102000; modules follow on page boundaries.
        #expect(first.0 == 0x102000 && first.1 == 0x102000 + 13)
        #expect(second.0 == 0x103000 && second.1 == 0x103000 + 5000)
        #expect(try string(memory, try word(memory, list + 8)) == "one arg")
        #expect(try string(memory, try word(memory, list + 24)) == "two")
        #expect(try memory.readBytes(at: GuestAddress(0x102000), count: 13) == Array("first module\n".utf8))
        // Memory map: size-prefixed entries, conventional memory, the hole, and RAM from 1 MiB.
        let mapLength = try word(memory, info + 44), map = UInt64(try word(memory, info + 48))
        #expect(mapLength == 3 * 24)
        var entries: [(UInt64, UInt64, UInt32)] = []
        var cursor = map
        while cursor < map + UInt64(mapLength) {
            let size = try word(memory, cursor)
            entries.append((try memory.read(UInt64.self, at: GuestAddress(cursor + 4)),
                            try memory.read(UInt64.self, at: GuestAddress(cursor + 12)), try word(memory, cursor + 20)))
            cursor += 4 + UInt64(size)
        }
        #expect(entries.map(\.0) == [0, 0x9FC00, 0x100000])
        #expect(entries.map(\.1) == [0x9FC00, 0x60400, 7 << 20])
        #expect(entries.map(\.2) == [1, 2, 1])
    }

    @Test func hostileHeadersAreRefusedWithAReason() throws {
        let memory = try GuestMemory(size: 4 << 20)
        func refusal(_ image: [UInt8]) -> String {
            do {
                _ = try MultibootLoader.load(image, commandLine: "", modules: [], into: memory)
                return "loaded"
            } catch { return "\(error)" }
        }
        #expect(refusal(Self.addressFieldImage(flags: 1 << 16 | 1 << 5)).contains("requires features Apus does not provide"))
        #expect(refusal(Self.addressFieldImage(header: 0x100010, load: 0x100020)).contains("before the start of the file"))
        #expect(refusal(Self.addressFieldImage(header: 0x100100, load: 0x100000)).contains("before the start of the file"))
        #expect(refusal(Self.addressFieldImage(loadEnd: 0x0FFFFF)).contains("lies below load_addr"))
        #expect(refusal(Self.addressFieldImage(loadEnd: 0x100100)).contains("truncated"))
        #expect(refusal(Self.addressFieldImage(bssEnd: 0x100020)).contains("bss_end_addr"))
        #expect(refusal(Self.addressFieldImage(entry: 0x200000)).contains("entry point"))
        #expect(refusal(Self.addressFieldImage(header: 0x10, load: 0, bssEnd: 0x1000, entry: 0x30)).contains("lies below 0x100000"))
        #expect(refusal(Self.addressFieldImage(bssEnd: 0x7F0_0000)).contains("too small"))
        #expect(refusal(Self.addressFieldImage(flags: 0)).contains("not ELF and its header has no address fields"))
        #expect(refusal(Array(Self.addressFieldImage().prefix(40))).contains("truncated"), "address fields cut off")
        #expect(refusal([]).contains("empty"))
        #expect(throws: BootError.tooManyMultibootModules(count: 65, limit: 64)) {
            try MultibootLoader.load(Self.addressFieldImage(), commandLine: "",
                                     modules: Array(repeating: MultibootModule(bytes: [1], string: ""), count: 65), into: memory)
        }
        #expect(throws: BootError.multibootInfoTooLarge(bytes: 70_001, room: 0xF800)) {
            try MultibootLoader.load(Self.addressFieldImage(), commandLine: String(repeating: "x", count: 70_000),
                                     modules: [], into: memory)
        }
    }

    @Test func guestImagesWithAHeaderBootTheMultibootWay() throws {
        let memory = try GuestMemory(size: 4 << 20)
        let plan = try GuestImageLoader.load(Self.elfWithHeader(), into: memory)
        #expect(plan.registers.rax == 0x2BAD_B002 && plan.registers.rbx == MultibootInfo.address)
        #expect(plan.summary.hasPrefix("Multiboot kernel (ELF32"))
    }
}
