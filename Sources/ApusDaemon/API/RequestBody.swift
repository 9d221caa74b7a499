import ApusAPI
import Foundation
import Hummingbird
import NIOCore

/// Reads and decodes a JSON request body, turning every way it can be wrong into a 400 or 413 that says what.
enum RequestBody {
    /// The whole body, up to the documented limit (413 beyond it).
    static func collect(_ request: Request) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: ApusVersion.maximumRequestBodyBytes)
        } catch is NIOTooManyBytesError {
            throw DaemonError.payloadTooLarge(limit: ApusVersion.maximumRequestBodyBytes)
        }
    }

    /// Refuses a body sent as anything but `expected` (parameters such as charset are allowed): 415.
    static func requireMediaType(_ expected: String, of request: Request) throws {
        let given = request.headers[.contentType]
        let type = given?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == expected else { throw DaemonError.unsupportedMediaType(expected: expected, got: given) }
    }

    /// The body of a route that requires one: 400 when it is empty.
    static func required(_ request: Request, mediaType: String, what: String) async throws -> ByteBuffer {
        try requireMediaType(mediaType, of: request)
        let buffer = try await collect(request)
        guard buffer.readableBytes > 0 else { throw DaemonError.badRequest("the request needs a body (\(what))") }
        return buffer
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer = try await required(request, mediaType: "application/json", what: "a JSON object")
        let bytes = Array(buffer.readableBytesView)
        do {
            try StrictJSON.check(bytes)
        } catch let problem as StrictJSON.Problem {
            throw DaemonError.badRequest(problem.description)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw DaemonError.badRequest(describe(error))
        } catch {
            throw DaemonError.badRequest("the body is not valid JSON: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the body" : "'" + keys.map(\.stringValue).joined(separator: ".") + "'"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) must be \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) must be \(typeName(type)), not null"
        case .keyNotFound(let key, let context):
            return "missing field '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted(let context):
            if context.underlyingError != nil || context.codingPath.isEmpty && context.debugDescription.contains("JSON") {
                return "the body is not valid JSON"
            }
            return context.debugDescription
        @unknown default:
            return "the body does not match the expected format"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "an object"
        }
    }
}
