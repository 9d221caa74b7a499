import Foundation

/// Reads one HTTP/1.1 response from a connection: the head, then the body as it arrives (Content-Length, chunked,
/// or until the daemon closes), handing each piece to the caller so streams (console, events) are shown live.
struct HTTPResponseReader {
    struct Head {
        var status: Int
        var headers: [String: String]
    }

    private let connection: UnixSocketConnection
    private var buffered: [UInt8] = []

    init(connection: UnixSocketConnection) { self.connection = connection }

    mutating func readHead() throws -> Head {
        while true {
            if let end = Self.find([13, 10, 13, 10], in: buffered) {
                let text = String(decoding: buffered[0..<end], as: UTF8.self)
                buffered.removeFirst(end + 4)
                var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
                    throw ClientError.protocolError("not an HTTP response")
                }
                var headers: [String: String] = [:]
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                return Head(status: status, headers: headers)
            }
            guard buffered.count < 1 << 20 else { throw ClientError.protocolError("response headers too large") }
            try fill(orFailWith: "the daemon closed the connection before answering")
        }
    }

    /// Calls `onData` with each piece of the body; return false from it to stop reading early.
    mutating func readBody(_ head: Head, onData: ([UInt8]) throws -> Bool) throws {
        if head.headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw ClientError.protocolError("bad chunk size '\(sizeLine)'")
                }
                if size == 0 { return }
                guard try pass(size, endedEarly: "the stream ended in the middle of a chunk", to: onData) else { return }
                _ = try readLine()
            }
        } else if let length = head.headers["content-length"].flatMap({ Int($0) }) {
            _ = try pass(length, endedEarly: "the body ended early", to: onData)
        } else {
            while true {
                if buffered.isEmpty {
                    let more = try connection.read()
                    if more.isEmpty { return }
                    buffered = more
                }
                let piece = buffered
                buffered.removeAll()
                if try !onData(piece) { return }
            }
        }
    }

    /// Hands the next `count` body bytes to `onData` as they arrive; false when `onData` asked to stop.
    private mutating func pass(_ count: Int, endedEarly: String, to onData: ([UInt8]) throws -> Bool) throws -> Bool {
        var remaining = count
        while remaining > 0 {
            if buffered.isEmpty { try fill(orFailWith: endedEarly) }
            let piece = Array(buffered.prefix(remaining))
            buffered.removeFirst(piece.count)
            remaining -= piece.count
            if try !onData(piece) { return false }
        }
        return true
    }

    private mutating func readLine() throws -> String {
        while true {
            if let end = Self.find([13, 10], in: buffered) {
                let line = String(decoding: buffered[0..<end], as: UTF8.self)
                buffered.removeFirst(end + 2)
                return line
            }
            try fill(orFailWith: "the stream ended unexpectedly")
        }
    }

    private mutating func fill(orFailWith message: String) throws {
        let more = try connection.read()
        guard !more.isEmpty else { throw ClientError.protocolError(message) }
        buffered += more
    }

    private static func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        for start in 0...(bytes.count - pattern.count) where bytes[start] == pattern[0] {
            if bytes[start..<(start + pattern.count)].elementsEqual(pattern) { return start }
        }
        return nil
    }
}
