/// Builds a bzImage byte by byte: a boot sector with the setup header at 0x1F1, `setupSectors` of (empty) setup
/// code, then a protected-mode part whose first bytes mark where it landed.
struct BzImageBuilder {
    var setupSectors: UInt8 = 2
    var version: UInt16 = 0x020F
    var headerEnd = 0x26C
    var loadFlags: UInt8 = 0x01                 // LOADED_HIGH
    var xloadFlags: UInt16 = 0x01               // XLF_KERNEL_64
    var initrdAddressMax: UInt32 = 0x7FFF_FFFF
    var kernelAlignment: UInt32 = 0x20_0000
    var relocatable: UInt8 = 1
    var commandLineSize: UInt32 = 2047
    var preferredAddress: UInt64 = 0x20_0000
    var initSize: UInt32 = 0x10_0000
    var kernelVersion: String? = "6.1.0-apus-test (builder@apus) #1 SMP"
    var protectedMode: [UInt8] = [0xE9, 0x5A, 0xA5] + [UInt8](repeating: 0x90, count: 4093)
    /// syssize in 16-byte paragraphs; nil means exactly the protected-mode part.
    var systemParagraphs: UInt32?

    var setupSize: Int { (Int(setupSectors == 0 ? 4 : setupSectors) + 1) * 512 }

    func build() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: setupSize)
        bytes[0x1F1] = setupSectors
        put(&bytes, 0x1F4, UInt64(systemParagraphs ?? UInt32((protectedMode.count + 15) / 16)), 4)
        put(&bytes, 0x1FE, 0xAA55, 2)
        bytes[0x200] = 0xEB
        bytes[0x201] = UInt8(truncatingIfNeeded: headerEnd - 0x202)
        bytes[0x202..<0x206] = ArraySlice("HdrS".utf8)
        put(&bytes, 0x206, UInt64(version), 2)
        bytes[0x211] = loadFlags
        put(&bytes, 0x214, 0x100000, 4)         // code32_start as the kernel ships it
        put(&bytes, 0x22C, UInt64(initrdAddressMax), 4)
        put(&bytes, 0x230, UInt64(kernelAlignment), 4)
        bytes[0x234] = relocatable
        bytes[0x235] = 21                       // min_alignment
        put(&bytes, 0x236, UInt64(xloadFlags), 2)
        put(&bytes, 0x238, UInt64(commandLineSize), 4)
        put(&bytes, 0x258, preferredAddress, 8)
        put(&bytes, 0x260, UInt64(initSize), 4)
        if let kernelVersion {
            // The pointer is relative to 0x200; the string sits in the first setup sector.
            put(&bytes, 0x20E, 0x100, 2)
            let text = Array(kernelVersion.utf8) + [0]
            bytes[0x300..<0x300 + text.count] = ArraySlice(text)
        }
        return bytes + protectedMode
    }
}
