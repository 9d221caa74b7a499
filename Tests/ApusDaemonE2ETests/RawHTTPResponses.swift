import ApusAPI
import Foundation

/// HTTP/1.1 responses as a raw socket received them, one after another (pipelined answers come back-to-back); each
/// with its status, headers (names lowercased) and Content-Length body. Bytes that do not parse end the list.
struct RawHTTPResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    /// The header block exactly as received, for byte-for-byte comparisons.
    var headerBlock: String

    var error: APIErrorBody? { try? JSONDecoder().decode(APIErrorBody.self, from: Data(body)) }
    var text: String { String(decoding: body, as: UTF8.self) }

    static func parseAll(_ bytes: [UInt8]) -> [RawHTTPResponse] {
        var responses: [RawHTTPResponse] = []
        var rest = bytes[...]
        let separator = Array("\r\n\r\n".utf8)
        while !rest.isEmpty {
            guard let end = rest.indices.first(where: { rest[$0...].starts(with: separator) }) else { break }
            let block = String(decoding: rest[rest.startIndex..<end], as: UTF8.self)
            var lines = block.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { break }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let bodyStart = end + separator.count
            let length = Int(headers["content-length"] ?? "0") ?? 0
            guard rest.endIndex - bodyStart >= length else { break }
            responses.append(RawHTTPResponse(status: status, headers: headers,
                                             body: Array(rest[bodyStart..<bodyStart + length]), headerBlock: block))
            rest = rest[(bodyStart + length)...]
        }
        return responses
    }
}
