import ApusBoot
import ApusCore
import ApusTesting
import Foundation
import Testing

/// The Debian cloud kernel fetched by guests/linux/fetch.sh, when it is there.
@Suite struct DebianKernelTests {
    static func file(_ name: String) -> [UInt8]? {
        guard DebianGuest.require(for: "DebianKernelTests (\(name))"),
              let data = FileManager.default.contents(atPath: DebianGuest.cache.appendingPathComponent(name).path) else {
            return nil
        }
        return [UInt8](data)
    }

    @Test func vmlinuxParsesAndLoads() throws {
        guard let kernel = Self.file("vmlinux") else { return }
        let image = try ELFImage(parsing: kernel)
        #expect(image.elfClass == .elf64)
        // startup_64 at the kernel's physical start, LOAD_PHYSICAL_ADDR = 16 MiB on x86-64 defconfigs.
        #expect(image.entry == 0x100_0000)
        #expect(image.segments.first?.physicalAddress == image.entry)
        #expect(image.segments.count >= 3, "text, data, percpu and init segments expected")
        for segment in image.segments {
            #expect(segment.physicalAddress >= 0x100_0000 && segment.physicalAddress % 0x1000 == 0)
            #expect(segment.fileSize <= segment.memorySize)
        }
        #expect(image.end < 256 << 20)

        let memory = try GuestMemory(size: 256 << 20)
        let initrd = Self.file("initramfs.cpio.gz")
        let plan = try LinuxBootLoader.load(kernel: kernel, initrd: initrd, commandLine: "console=ttyS0 nokaslr",
                                            into: memory)
        #expect(plan.registers.rip == image.entry && plan.registers.rsi == 0x7000)
        let first = try #require(image.segments.first)
        let prefix = Int(min(first.fileSize, 4096))
        #expect(try memory.readBytes(at: GuestAddress(first.physicalAddress), count: prefix)
                == Array(kernel[Int(first.fileOffset)..<Int(first.fileOffset) + prefix]))
        if let initrd {
            let page = try memory.readBytes(at: GuestAddress(0x7000), count: 4096)
            let address = get(page, 0x218, 4)
            #expect(get(page, 0x21C, 4) == UInt64(initrd.count) && address >= image.end && address % 4096 == 0)
            #expect(try memory.readBytes(at: GuestAddress(address), count: 2) == [0x1F, 0x8B])   // gzip magic
        }
        print("DebianKernelTests: \(plan.summary)")
    }

    @Test func bzImageHeaderParsesAndLoads() throws {
        guard let kernel = Self.file("vmlinuz") else { return }
        let image = try BzImage(parsing: kernel)
        #expect(image.protocolVersion >= 0x020C)
        #expect(image.xloadFlags & 1 != 0 && image.relocatable)
        #expect(image.preferredAddress == 0x100_0000 && image.initSize > 0)
        #expect(image.kernelVersion?.hasPrefix("6.") == true, "version string: \(image.kernelVersion ?? "none")")

        // The decompression window ends past 64 MiB for this kernel: 64 MiB is refused with the size it needs.
        let needed = image.preferredAddress + UInt64(image.initSize)
        let small = try GuestMemory(size: 32 << 20)
        #expect(throws: BootError.memoryTooSmall(what: "the kernel's decompression window (init_size "
                                                 + "\(formatMiB(image.initSize)))", needed: needed, available: 32 << 20)) {
            try LinuxBootLoader.load(kernel: kernel, initrd: nil, commandLine: "", into: small)
        }
        let memory = try GuestMemory(size: 256 << 20)
        let plan = try LinuxBootLoader.load(kernel: kernel, initrd: nil, commandLine: "console=ttyS0", into: memory)
        #expect(plan.registers.rip == 0x100200)
        let page = try memory.readBytes(at: GuestAddress(0x7000), count: 4096)
        #expect(get(page, 0x206, 2) == UInt64(image.protocolVersion))
        #expect(get(page, 0x260, 4) == UInt64(image.initSize))
        print("DebianKernelTests: \(plan.summary)")
    }

    func formatMiB(_ bytes: UInt32) -> String {
        let tenths = ((UInt64(bytes) & 0xF_FFFF) * 10) >> 20
        return "\(bytes >> 20).\(tenths) MiB"
    }
}
