/// The ELF fields and values Apus reads (System V ABI, and its i386 and x86-64 supplements).
enum ELFConstants {
    static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
    static let class32: UInt8 = 1
    static let class64: UInt8 = 2
    static let littleEndian: UInt8 = 1
    static let currentVersion: UInt8 = 1
    static let executable: UInt16 = 2
    static let machine386: UInt16 = 3
    static let machineX86_64: UInt16 = 62
    static let programLoad: UInt32 = 1
    /// e_phnum's escape to an extended count kept in a section header; never used by kernels or our guests.
    static let extendedNumbering: UInt16 = 0xFFFF

    /// Where each header field sits for one ELF class.
    struct Layout {
        var headerSize: UInt16
        var programHeaderSize: UInt16
        var machine: UInt16
        var entry: UInt64, programHeaderOffset: UInt64, addressSize: Int
        var headerSizeField: UInt64, programHeaderSizeField: UInt64, programHeaderCountField: UInt64
        // Offsets inside one program header.
        var type: UInt64 = 0, offset: UInt64, physicalAddress: UInt64, fileSize: UInt64, memorySize: UInt64
    }

    static let layout32 = Layout(headerSize: 52, programHeaderSize: 32, machine: machine386,
                                 entry: 24, programHeaderOffset: 28, addressSize: 4,
                                 headerSizeField: 40, programHeaderSizeField: 42, programHeaderCountField: 44,
                                 offset: 4, physicalAddress: 12, fileSize: 16, memorySize: 20)
    static let layout64 = Layout(headerSize: 64, programHeaderSize: 56, machine: machineX86_64,
                                 entry: 24, programHeaderOffset: 32, addressSize: 8,
                                 headerSizeField: 52, programHeaderSizeField: 54, programHeaderCountField: 56,
                                 offset: 8, physicalAddress: 24, fileSize: 32, memorySize: 40)
}
