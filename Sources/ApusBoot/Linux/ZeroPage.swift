/// Offsets in the zero page (`struct boot_params`) and the setup header embedded in it at 0x1F1, from the kernel's
/// Documentation/arch/x86/boot.rst and zero-page.rst. The same offsets locate the header in a bzImage file.
enum ZeroPage {
    static let size = 4096

    // boot_params proper.
    /// acpi_rsdp_addr (boot protocol 2.14): where the RSDP is, so the kernel need not scan for it.
    static let acpiRSDPAddress = 0x070
    static let extRamdiskImage = 0x0C0
    static let extRamdiskSize = 0x0C4
    static let extCommandLinePointer = 0x0C8
    static let e820Entries = 0x1E8
    static let sentinel = 0x1EF
    static let e820Table = 0x2D0
    static let e820EntrySize = 20
    static let e820MaxEntries = 128

    // The setup header.
    static let setupSects = 0x1F1
    static let syssize = 0x1F4
    static let bootFlag = 0x1FE
    static let jump = 0x200
    static let header = 0x202
    static let version = 0x206
    static let kernelVersion = 0x20E
    static let typeOfLoader = 0x210
    static let loadFlags = 0x211
    static let code32Start = 0x214
    static let ramdiskImage = 0x218
    static let ramdiskSize = 0x21C
    static let heapEndPointer = 0x224
    static let commandLinePointer = 0x228
    static let initrdAddressMax = 0x22C
    static let kernelAlignment = 0x230
    static let relocatableKernel = 0x234
    static let xloadFlags = 0x236
    static let commandLineSize = 0x238
    static let prefAddress = 0x258
    static let initSize = 0x260
    /// The first boot_params field after the space reserved for the setup header (edd_mbr_sig_buffer).
    static let headerLimit = 0x290

    static let bootFlagValue: UInt16 = 0xAA55
    static let headerMagic: [UInt8] = Array("HdrS".utf8)
    static let shortJump: UInt8 = 0xEB
    static let loadedHigh: UInt8 = 0x01
    static let canUseHeap: UInt8 = 0x80
    static let xlfKernel64: UInt16 = 0x01
    /// type_of_loader 0xFF: "undefined", for loaders without an assigned id.
    static let loaderUndefined: UInt8 = 0xFF
    /// Heap end for a real-mode segment used in full (boot.rst: heap_end = 0xE000 minus the 0x200 boot sector);
    /// only the 16-bit setup code uses it, which the 64-bit entry skips.
    static let heapEnd: UInt16 = 0xE000 - 0x200
    static let e820RAM: UInt32 = 1
    static let e820Reserved: UInt32 = 2
}

/// Protocol versions whose fields the loader relies on.
enum BootProtocol {
    /// cmdline_size exists; the oldest protocol Apus accepts for the 64-bit entry.
    static let minimum: UInt16 = 0x0206
    /// pref_address and init_size exist.
    static let withInitSize: UInt16 = 0x020A
    /// xloadflags exists.
    static let withXLoadFlags: UInt16 = 0x020C
    /// The header Apus synthesizes for an ELF vmlinux claims the current version.
    static let synthesized: UInt16 = 0x020F
}
