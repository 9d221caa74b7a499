import ApusBoot
import ApusCore
import Foundation
import Testing

/// Checks the zero page against the offsets documented in the kernel's Documentation/arch/x86/boot.rst.
@Suite struct LinuxBootLoaderTests {
    /// A bzImage with one setup sector and a 4 KiB protected-mode part whose first byte marks where it landed.
    func bzImage(version: UInt64 = 0x020F, xloadflags: UInt64 = 1) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 1024 + 4096)
        bytes[0x1F1] = 1
        put(&bytes, 0x1FE, 0xAA55, 2)
        bytes[0x202...0x205] = ArraySlice("HdrS".utf8)
        put(&bytes, 0x206, version, 2)
        put(&bytes, 0x22C, 0x37FF_FFFF, 4)
        put(&bytes, 0x236, xloadflags, 2)
        put(&bytes, 0x238, 255, 4)
        bytes[1024] = 0xE9
        return bytes
    }

    @Test func zeroPageFieldsSitAtTheirDocumentedOffsets() throws {
        let memory = try GuestMemory(size: 64 << 20)
        let initrd = [UInt8](repeating: 0x42, count: 10_000)
        let plan = try LinuxBootLoader.load(kernel: bzImage(), initrd: initrd, commandLine: "console=ttyS0",
                                            into: memory)
        let page = try memory.readBytes(at: GuestAddress(0x7000), count: 4096)
        #expect(get(page, 0x1FE, 2) == 0xAA55)
        #expect(get(page, 0x202, 4) == 0x5372_6448)          // "HdrS"
        #expect(get(page, 0x206, 2) == 0x020F)
        #expect(page[0x210] == 0xFF)                          // type_of_loader: undefined
        #expect(page[0x211] & 0x81 == 0x81)                   // LOADED_HIGH | CAN_USE_HEAP
        let ramdisk = get(page, 0x218, 4)
        #expect(get(page, 0x21C, 4) == 10_000)
        #expect(ramdisk % 4096 == 0 && ramdisk + 10_000 <= 64 << 20)
        #expect(try memory.read(UInt8.self, at: GuestAddress(ramdisk)) == 0x42)
        #expect(get(page, 0x228, 4) == 0x20000)
        #expect(try memory.readBytes(at: GuestAddress(0x20000), count: 14) == Array("console=ttyS0\0".utf8))
        #expect(page[0x1E8] == 3)                             // e820 entries
        #expect(get(page, 0x2D0, 8) == 0 && get(page, 0x2D8, 8) == 0x9FC00 && get(page, 0x2E0, 4) == 1)
        #expect(get(page, 0x2D0 + 20, 8) == 0x9FC00 && get(page, 0x2D0 + 36, 4) == 2)
        #expect(get(page, 0x2D0 + 40, 8) == 0x100000 && get(page, 0x2D0 + 48, 8) == (64 << 20) - 0x100000)
        #expect(plan.registers.rip == 0x100200 && plan.registers.rsi == 0x7000)
        #expect(plan.specialRegisters.cs.selector == 0x10 && plan.specialRegisters.ds.selector == 0x18)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x100000)) == 0xE9)
    }

    @Test func badKernelsAndArgumentsAreRefused() throws {
        let memory = try GuestMemory(size: 8 << 20)
        #expect(throws: BootError.unsupportedProtocol(0x0205)) {
            try LinuxBootLoader.load(kernel: bzImage(version: 0x0205), initrd: nil, commandLine: "", into: memory)
        }
        #expect(throws: BootError.self) {
            try LinuxBootLoader.load(kernel: bzImage(xloadflags: 0), initrd: nil, commandLine: "", into: memory)
        }
        #expect(throws: BootError.commandLineTooLong(length: 300, limit: 255)) {
            try LinuxBootLoader.load(kernel: bzImage(), initrd: nil, commandLine: String(repeating: "x", count: 300),
                                     into: memory)
        }
        #expect(throws: BootError.self) {
            try LinuxBootLoader.load(kernel: bzImage(), initrd: [UInt8](repeating: 1, count: 8 << 20),
                                     commandLine: "", into: memory)
        }
        #expect(throws: BootError.unrecognizedFormat) {
            try LinuxBootLoader.load(kernel: [1, 2, 3], initrd: nil, commandLine: "", into: memory)
        }
    }

    @Test func randomMutationsOfABzImageNeverCrash() throws {
        let memory = try GuestMemory(size: 8 << 20)
        let valid = bzImage()
        var seed: UInt64 = 42
        for _ in 0..<2_000 {
            var bytes = valid
            for _ in 0..<3 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes[0x1F0 + Int(seed >> 33) % 0x80] = UInt8(truncatingIfNeeded: seed >> 17)
            }
            _ = try? LinuxBootLoader.load(kernel: bytes, initrd: nil, commandLine: "quiet", into: memory)
        }
    }

    @Test func debianVmlinuxParses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("guests/linux/cache/vmlinux").path
        guard let data = FileManager.default.contents(atPath: path) else {
            print("debianVmlinuxParses: skipping: \(path) is missing; run guests/linux/fetch.sh")
            return
        }
        let image = try ELFImage(parsing: [UInt8](data))
        #expect(image.is64Bit)
        #expect(image.entry == 0x100_0000)
        #expect(image.segments.first?.physicalAddress == 0x100_0000)
    }
}
