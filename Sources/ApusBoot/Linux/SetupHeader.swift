/// Offsets in the zero page (`struct boot_params`) and its embedded setup header, from the kernel's
/// Documentation/arch/x86/boot.rst and zero-page.rst.
enum ZeroPage {
    static let size = 4096
    static let e820Entries = 0x1E8
    static let setupSects = 0x1F1
    static let bootFlag = 0x1FE
    static let jump = 0x200
    static let header = 0x202
    static let version = 0x206
    static let typeOfLoader = 0x210
    static let loadFlags = 0x211
    static let ramdiskImage = 0x218
    static let ramdiskSize = 0x21C
    static let heapEndPointer = 0x224
    static let commandLinePointer = 0x228
    static let initrdAddressMax = 0x22C
    static let kernelAlignment = 0x230
    static let xloadFlags = 0x236
    static let commandLineSize = 0x238
    static let e820Table = 0x2D0
    static let e820EntrySize = 20
    static let e820MaxEntries = 128
    /// The setup header never extends past this in any protocol version so far.
    static let headerEnd = 0x280

    static let loadedHigh: UInt8 = 0x01
    static let canUseHeap: UInt8 = 0x80
    static let xlfKernel64: UInt16 = 0x01
    static let loaderUndefined: UInt8 = 0xFF
    static let minimumVersion: UInt16 = 0x0206
}

/// One e820 memory-map entry.
struct E820Entry: Equatable {
    enum Kind: UInt32 { case ram = 1, reserved = 2 }
    var address: UInt64
    var size: UInt64
    var kind: Kind

    /// The PC map: conventional memory, the EBDA/ROM hole, then RAM from 1 MiB up.
    static func map(memorySize: UInt64) -> [E820Entry] {
        [E820Entry(address: 0, size: 0x9FC00, kind: .ram),
         E820Entry(address: 0x9FC00, size: 0x100000 - 0x9FC00, kind: .reserved),
         E820Entry(address: 0x100000, size: memorySize - 0x100000, kind: .ram)]
    }
}
