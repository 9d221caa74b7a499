import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The records of a live migration on a connected stream socket (a Unix socket between two daemons, or the two ends
/// of a socketpair in one process). Each record is a type byte, a 32-bit little-endian payload length and the payload.
///
/// Source to target: `hello` (the format version and the RAM layout), `pages` (guest-physical address + 4 KiB, any
/// number), `zeroPages` (addresses only), `state` (the machine manifest without memory), `commit`. Target to source:
/// `ready` (the machine is rebuilt, paused, and can take over), `running` (it did), `abort` (either way, with the
/// reason as UTF-8). Anything else, or a length above `maximumPayload`, ends the migration as a protocol error.
struct MigrationChannel {
    enum RecordType: UInt8 {
        case hello = 1, pages, zeroPages, state, commit, ready, running, abort
    }

    static let formatVersion = 1
    /// A batch of 64 pages with their addresses, or a manifest: far below this.
    static let maximumPayload = 64 << 20
    let fd: Int32

    func send(_ type: RecordType, _ payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) throws {
        var header = [UInt8](repeating: 0, count: 5)
        header[0] = type.rawValue
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { for i in 0..<4 { header[1 + i] = $0[i] } }
        try header.withUnsafeBytes { try writeAll($0) }
        if payload.count > 0 { try writeAll(payload) }
    }

    func send(_ type: RecordType, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try send(type, $0) }
    }

    /// The next record; a closed connection is `MigrationError.connectionLost`.
    func receive() throws -> (RecordType, [UInt8]) {
        var header = [UInt8](repeating: 0, count: 5)
        try header.withUnsafeMutableBytes { try readAll($0) }
        guard let type = RecordType(rawValue: header[0]) else {
            throw MigrationError.protocolError("unknown record type \(header[0])")
        }
        let length = Int(UInt32(header[1]) | UInt32(header[2]) << 8 | UInt32(header[3]) << 16 | UInt32(header[4]) << 24)
        guard length <= Self.maximumPayload else {
            throw MigrationError.protocolError("a \(type) record of \(length) bytes is larger than any the protocol sends")
        }
        var payload = [UInt8](repeating: 0, count: length)
        if length > 0 { try payload.withUnsafeMutableBytes { try readAll($0) } }
        return (type, payload)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let written = Glibc.send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw MigrationError.connectionLost("sending: \(String(cString: strerror(errno)))") }
            done += written
        }
    }

    private func readAll(_ bytes: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let count = recv(fd, bytes.baseAddress! + done, bytes.count - done, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw MigrationError.connectionLost(count == 0 ? "the other side closed the connection"
                                                    : "receiving: \(String(cString: strerror(errno)))")
            }
            done += count
        }
    }
}

public enum MigrationError: Error, Equatable, Sendable, CustomStringConvertible {
    case connectionLost(String)
    case protocolError(String)
    /// The other side refused, with its reason.
    case aborted(String)
    case incompatible(String)

    public var description: String {
        switch self {
        case .connectionLost(let why): return "the migration connection was lost (\(why))"
        case .protocolError(let why): return "the migration stream is malformed: \(why)"
        case .aborted(let why): return "the other side aborted the migration: \(why)"
        case .incompatible(let why): return "the machines are incompatible: \(why)"
        }
    }
}

/// The first record: what the target must agree to before any page is sent.
struct MigrationHello: Codable, Equatable {
    var formatVersion: Int
    var regions: [Region]
    struct Region: Codable, Equatable {
        var start: UInt64
        var size: UInt64
    }
}
