import ApusCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One end of the daemon–worker socketpair, carrying length-prefixed frames: a 4-byte big-endian length, then that
/// many bytes of JSON. Writes of whole frames are serialized, so any thread may send; one thread reads.
final class WorkerChannel: Sendable {
    enum Failure: Error, CustomStringConvertible {
        case closed
        case truncated(expected: Int, got: Int)
        case oversized(Int)
        case malformed(String)
        case io(String)

        var description: String {
            switch self {
            case .closed: return "the other end closed the channel"
            case .truncated(let expected, let got): return "a frame ended after \(got) of \(expected) bytes"
            case .oversized(let length): return "a frame of \(length) bytes is over the \(WorkerProtocol.maximumFrame)-byte limit"
            case .malformed(let detail): return "a frame is not a valid message: \(detail)"
            case .io(let detail): return detail
            }
        }
    }

    let descriptor: Int32
    private let writing = Mutex(())

    init(descriptor: Int32) { self.descriptor = descriptor }

    func send(_ message: some Encodable) throws {
        let payload = try JSONEncoder().encode(message)
        var frame = [UInt8](repeating: 0, count: 4)
        let length = UInt32(payload.count)
        for index in 0..<4 { frame[index] = UInt8(truncatingIfNeeded: length >> (24 - 8 * UInt32(index))) }
        frame += payload
        try writing.withLock { _ in try writeAll(frame) }
    }

    /// The next message; `.closed` at a clean end between frames.
    func receive<Message: Decodable>(_ type: Message.Type) throws -> Message {
        let header = try readExactly(4, atFrameStart: true)
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= WorkerProtocol.maximumFrame else { throw Failure.oversized(length) }
        let payload = try readExactly(length, atFrameStart: false)
        do {
            return try JSONDecoder().decode(Message.self, from: Data(payload))
        } catch {
            throw Failure.malformed("\(error)")
        }
    }

    /// Ends the conversation in both directions; a reader blocked in `receive` sees `.closed`.
    func shutDown() { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }

    private func writeAll(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                SystemCall.retryingInterrupts { Glibc.send(descriptor, buffer.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            }
            guard count > 0 else { throw Failure.io("cannot write to the worker channel: \(String(cString: strerror(errno)))") }
            done += count
        }
    }

    private func readExactly(_ count: Int, atFrameStart: Bool) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                SystemCall.retryingInterrupts { Glibc.read(descriptor, buffer.baseAddress! + done, count - done) }
            }
            if got < 0 {
                if errno == ECONNRESET { throw atFrameStart && done == 0 ? Failure.closed : Failure.truncated(expected: count, got: done) }
                throw Failure.io("cannot read the worker channel: \(String(cString: strerror(errno)))")
            }
            if got == 0 {
                throw atFrameStart && done == 0 ? Failure.closed : Failure.truncated(expected: count, got: done)
            }
            done += got
        }
        return bytes
    }
}
