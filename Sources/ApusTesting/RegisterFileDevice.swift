public import ApusCore

/// A device with plain read/write registers that logs every access: the simplest real device for bus and
/// dispatcher tests (it behaves like a bank of scratch registers).
public final class RegisterFileDevice: BusDevice {
    public struct Access: Equatable, Sendable {
        public var offset: UInt64
        public var size: Int
        public var value: UInt64
        public var isWrite: Bool

        public init(offset: UInt64, size: Int, value: UInt64, isWrite: Bool) {
            self.offset = offset; self.size = size; self.value = value; self.isWrite = isWrite
        }
    }

    public private(set) var accesses: [Access] = []
    private var bytes: [UInt8]

    public init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<size where Int(offset) + i < bytes.count {
            value |= UInt64(bytes[Int(offset) + i]) << (8 * UInt64(i))
        }
        accesses.append(Access(offset: offset, size: size, value: value, isWrite: false))
        return value
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        for i in 0..<size where Int(offset) + i < bytes.count {
            bytes[Int(offset) + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
        }
        accesses.append(Access(offset: offset, size: size, value: value, isWrite: true))
    }
}
