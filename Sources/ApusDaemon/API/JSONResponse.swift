import Foundation
import Hummingbird
import NIOCore

/// JSON responses with the daemon's encoder settings (ISO 8601 dates, sorted keys so output is stable for scripts).
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The body every JSON response carries: the encoded value and a newline.
    static func body(_ value: some Encodable) throws -> ByteBuffer {
        var data = try encoder.encode(value)
        data.append(0x0A)
        return ByteBuffer(bytes: data)
    }

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: try body(value)))
    }
}
