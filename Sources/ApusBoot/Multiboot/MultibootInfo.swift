public import ApusCore

/// The Multiboot information structure and what it points to, laid out in the loader's area below 1 MiB:
///
///     0x10000  the information structure (116 bytes)   0x10400  module list (16 bytes a module)
///     0x10100  memory map (24 bytes an entry)          0x10800  strings (command line, loader name, module strings)
///                                                      to 0x20000
public enum MultibootInfo {
    public static let address: UInt64 = 0x10000
    static let memoryMapAddress: UInt64 = 0x10100
    static let moduleListAddress: UInt64 = 0x10400
    static let stringsAddress: UInt64 = 0x10800
    static let areaEnd: UInt64 = 0x20000
    static let structureSize = 116
    public static let maximumModules = Int((stringsAddress - moduleListAddress) / 16)
    static let maximumMemoryMapEntries = Int((moduleListAddress - memoryMapAddress) / 24)
    public static let bootLoaderName = "Apus"

    /// Which fields are valid (`flags` word).
    enum Field {
        static let memory: UInt32 = 1 << 0
        static let commandLine: UInt32 = 1 << 2
        static let modules: UInt32 = 1 << 3
        static let memoryMap: UInt32 = 1 << 6
        static let bootLoaderName: UInt32 = 1 << 9
    }

    /// Where each module was placed: [start, end).
    struct PlacedModule {
        var start: UInt64
        var end: UInt64
        var string: String
    }

    /// Writes the structure, memory map, module list and strings; returns the structure's address (for EBX).
    static func write(commandLine: String, modules: [PlacedModule], into memory: GuestMemory) throws -> UInt64 {
        var strings: [UInt8] = []
        func addString(_ text: String) throws -> UInt32 {
            let address = stringsAddress + UInt64(strings.count)
            strings += Array(text.utf8) + [0]
            guard stringsAddress + UInt64(strings.count) <= areaEnd else {
                throw BootError.multibootInfoTooLarge(bytes: strings.count, room: Int(areaEnd - stringsAddress))
            }
            return UInt32(address)
        }

        let entries = E820Entry.map(for: memory)
        guard entries.count <= maximumMemoryMapEntries else {
            throw BootError.memoryMapTooLarge(entries: entries.count)
        }
        var memoryMap: [UInt8] = []
        for entry in entries {
            memoryMap += littleEndian(UInt32(20)) + littleEndian(entry.address) + littleEndian(entry.size)
                + littleEndian(entry.type)
        }

        var moduleList: [UInt8] = []
        for module in modules {
            moduleList += littleEndian(UInt32(module.start)) + littleEndian(UInt32(module.end))
                + littleEndian(try addString(module.string)) + littleEndian(UInt32(0))
        }

        var structure = [UInt8](repeating: 0, count: structureSize)
        func set(_ offset: Int, _ value: UInt32) { structure.replaceSubrange(offset..<offset + 4, with: littleEndian(value)) }
        set(0, Field.memory | Field.commandLine | Field.modules | Field.memoryMap | Field.bootLoaderName)
        // mem_lower: conventional memory in KiB; mem_upper: KiB of RAM contiguous from 1 MiB.
        set(4, UInt32(LowMemory.conventionalMemoryEnd / 1024))
        set(8, UInt32(min((memory.contiguousEnd(from: LowMemory.reservedEnd) - LowMemory.reservedEnd) / 1024,
                          UInt64(UInt32.max))))
        set(16, try addString(commandLine))
        set(20, UInt32(modules.count))
        set(24, UInt32(moduleListAddress))
        set(44, UInt32(memoryMap.count))
        set(48, UInt32(memoryMapAddress))
        set(64, try addString(bootLoaderName))

        try memory.place(structure, at: address, what: "the Multiboot information structure")
        try memory.place(memoryMap, at: memoryMapAddress, what: "the Multiboot memory map")
        try memory.place(moduleList, at: moduleListAddress, what: "the Multiboot module list")
        try memory.place(strings, at: stringsAddress, what: "the Multiboot strings")
        return address
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        AML.littleEndian(UInt64(value), T.bitWidth / 8)
    }
}
