public import ApusCore

/// A validated span of guest memory named by one descriptor: every byte of it lies inside one RAM region.
public struct GuestBuffer: Equatable, Sendable {
    public var address: GuestAddress
    public var length: UInt32

    public init(address: GuestAddress, length: UInt32) {
        self.address = address
        self.length = length
    }
}

/// A descriptor chain taken off the available ring: the driver's readable buffers (in order), then its writable
/// ones. Everything here was checked against guest memory when the chain was walked, so devices can copy freely.
public struct DescriptorChain: Equatable, Sendable {
    /// The head index, returned to the driver in the used ring.
    public var head: UInt16
    public var readable: [GuestBuffer]
    public var writable: [GuestBuffer]

    public init(head: UInt16, readable: [GuestBuffer], writable: [GuestBuffer]) {
        self.head = head
        self.readable = readable
        self.writable = writable
    }

    public var readableLength: UInt64 { readable.reduce(0) { $0 + UInt64($1.length) } }
    public var writableLength: UInt64 { writable.reduce(0) { $0 + UInt64($1.length) } }
}

/// A cursor over a list of buffers, treating them as one byte stream (a request header may straddle descriptors).
public struct GuestBufferCursor {
    private let buffers: [GuestBuffer]
    private var index = 0
    private var offsetInBuffer: UInt32 = 0
    /// Bytes consumed so far.
    public private(set) var consumed: UInt64 = 0

    public init(_ buffers: [GuestBuffer]) { self.buffers = buffers }

    public var remaining: UInt64 {
        var total: UInt64 = 0
        for i in index..<buffers.count { total += UInt64(buffers[i].length) }
        return total - UInt64(offsetInBuffer)
    }

    /// Copies up to `destination.count` bytes out of guest memory; returns how many were copied.
    @discardableResult
    public mutating func read(into destination: UnsafeMutableRawBufferPointer, from memory: GuestMemory) throws -> Int {
        try walk(destination.count) { buffer, at, count, done in
            try memory.read(into: UnsafeMutableRawBufferPointer(rebasing: destination[done..<done + count]),
                            at: GuestAddress(buffer.address.rawValue + UInt64(at)))
        }
    }

    /// Copies up to `source.count` bytes into guest memory; returns how many were copied.
    @discardableResult
    public mutating func write(_ source: UnsafeRawBufferPointer, to memory: GuestMemory) throws -> Int {
        try walk(source.count) { buffer, at, count, done in
            try memory.write(UnsafeRawBufferPointer(rebasing: source[done..<done + count]),
                             at: GuestAddress(buffer.address.rawValue + UInt64(at)))
        }
    }

    /// Skips `count` bytes; returns how many were skipped.
    @discardableResult
    public mutating func skip(_ count: Int) -> Int {
        (try? walk(count) { _, _, _, _ in }) ?? 0
    }

    private mutating func walk(_ wanted: Int,
                               _ body: (GuestBuffer, UInt32, Int, Int) throws -> Void) throws -> Int {
        var done = 0
        while done < wanted, index < buffers.count {
            let buffer = buffers[index]
            let available = Int(buffer.length - offsetInBuffer)
            let count = min(available, wanted - done)
            if count > 0 { try body(buffer, offsetInBuffer, count, done) }
            done += count
            offsetInBuffer += UInt32(count)
            if offsetInBuffer == buffer.length {
                index += 1
                offsetInBuffer = 0
            }
        }
        consumed += UInt64(done)
        return done
    }
}
