public import ApusCore

/// QEMU's firmware configuration interface (fw_cfg) on its PC ports, so kernels written for `qemu -kernel` can read
/// the RAM size, the CPU count and the command line the way they do there: a 16-bit selector written to 0x510 picks
/// an item, and reads of the data port 0x511 return its bytes one by one (zero past the end). Items are fixed when
/// the machine is built; only the selector and the read offset change. No DMA interface (the ID item says so).
public final class FirmwareConfig: StatefulDevice {
    public struct State: Codable, Sendable, Equatable {
        public var selector: UInt16
        public var offset: Int
        /// Every item by selector, the file directory included.
        public var items: [UInt16: [UInt8]]

        public init(selector: UInt16 = 0, offset: Int = 0, items: [UInt16: [UInt8]]) {
            self.selector = selector
            self.offset = offset
            self.items = items
        }
    }

    /// Port offsets from 0x510.
    public enum Register {
        public static let selector: UInt64 = 0
        public static let data: UInt64 = 1
    }
    public static let portCount: UInt16 = 2

    private var state: State

    public init(items: FirmwareConfigItems) {
        state = State(items: items.all)
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard offset == Register.data else { return 0 }
        // A wider read takes that many consecutive bytes, least significant first.
        var value: UInt64 = 0
        for byte in 0..<size { value |= UInt64(nextByte()) << UInt64(8 * byte) }
        return value
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        // Writes to the data port are ignored, as on QEMU since 2.4; a byte write to the selector sets its low byte.
        guard offset == Register.selector else { return }
        state.selector = size == 1 ? (state.selector & 0xFF00) | UInt16(value & 0xFF) : UInt16(truncatingIfNeeded: value)
        state.offset = 0
    }

    public func saveState() -> State { state }

    public func restoreState(_ newState: State) throws {
        guard newState.offset >= 0 else { throw DeviceStateError.invalid(device: "fw_cfg device", reason: "negative read offset \(newState.offset)") }
        state = newState
    }

    private func nextByte() -> UInt8 {
        guard let item = state.items[state.selector], state.offset < item.count else { return 0 }
        defer { state.offset += 1 }
        return item[state.offset]
    }
}

/// The items a machine's fw_cfg holds: QEMU's legacy selectors and a file directory with the same facts as files.
public struct FirmwareConfigItems: Sendable, Equatable {
    public enum Selector {
        public static let signature: UInt16 = 0x00
        public static let id: UInt16 = 0x01
        public static let uuid: UInt16 = 0x02
        public static let ramSize: UInt16 = 0x03
        public static let noGraphic: UInt16 = 0x04
        public static let cpuCount: UInt16 = 0x05
        public static let maximumCPUs: UInt16 = 0x0F
        public static let commandLineSize: UInt16 = 0x14
        public static let commandLineData: UInt16 = 0x15
        public static let fileDirectory: UInt16 = 0x19
        public static let firstFile: UInt16 = 0x20
    }
    /// Longest file name in a directory entry, its NUL excluded.
    public static let maximumNameLength = 55

    public private(set) var all: [UInt16: [UInt8]] = [:]
    private var files: [(name: String, selector: UInt16, size: Int)] = []

    /// `memoryMap` is the machine's e820 map as (address, length, type) triples, published as QEMU's `etc/e820`.
    public init(ramSize: UInt64, cpuCount: Int, commandLine: String,
                memoryMap: [(address: UInt64, length: UInt64, type: UInt32)]) {
        all[Selector.signature] = Array("QEMU".utf8)
        all[Selector.id] = Self.littleEndian(UInt32(1))   // the traditional interface only
        all[Selector.uuid] = [UInt8](repeating: 0, count: 16)
        all[Selector.ramSize] = Self.littleEndian(ramSize)
        all[Selector.noGraphic] = Self.littleEndian(UInt16(1))
        all[Selector.cpuCount] = Self.littleEndian(UInt16(cpuCount))
        all[Selector.maximumCPUs] = Self.littleEndian(UInt16(cpuCount))
        let line = Array(commandLine.utf8) + [0]
        all[Selector.commandLineSize] = Self.littleEndian(UInt32(line.count))
        all[Selector.commandLineData] = line
        addFile("etc/e820", memoryMap.flatMap {
            Self.littleEndian($0.address) + Self.littleEndian($0.length) + Self.littleEndian($0.type)
        })
        addFile("opt/org.apus/ram-size", Self.littleEndian(ramSize))
        addFile("opt/org.apus/cpu-count", Self.littleEndian(UInt16(cpuCount)))
        addFile("opt/org.apus/cmdline", line)
    }

    /// Adds a file after the others (names are short constants, so they always fit an entry).
    private mutating func addFile(_ name: String, _ contents: [UInt8]) {
        let selector = Selector.firstFile + UInt16(files.count)
        files.append((name, selector, contents.count))
        all[selector] = contents
        // The directory: a big-endian count, then per file a big-endian size and selector, two reserved bytes and
        // the name in 56 bytes, NUL-padded. Entries are sorted by name, as QEMU keeps them.
        var directory = Self.bigEndian(UInt32(files.count))
        for file in files.sorted(by: { $0.name < $1.name }) {
            let name = Array(file.name.utf8.prefix(Self.maximumNameLength))
            directory += Self.bigEndian(UInt32(file.size)) + Self.bigEndian(file.selector) + [0, 0]
                + name + [UInt8](repeating: 0, count: 56 - name.count)
        }
        all[Selector.fileDirectory] = directory
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<T.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    private static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { littleEndian(value).reversed() }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.all == rhs.all }
}
