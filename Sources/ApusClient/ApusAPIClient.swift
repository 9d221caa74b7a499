public import ApusAPI
import Foundation

/// The daemon's API as Swift calls: every method throws `ClientError` with the daemon's own message on failure.
public struct ApusAPIClient: Sendable {
    public let http: UnixHTTPClient

    public init(socketPath: String) { http = UnixHTTPClient(socketPath: socketPath) }

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// Decodes a success body as `T`, or throws the daemon's error.
    public static func decode<T: Decodable>(_ type: T.Type, from response: UnixHTTPClient.Response) throws -> T {
        guard (200..<300).contains(response.status) else { throw error(from: response.status, body: response.body) }
        do {
            return try decoder.decode(T.self, from: Data(response.body))
        } catch {
            throw ClientError.protocolError("cannot read the daemon's answer (\(error))")
        }
    }

    static func error(from status: Int, body: [UInt8]) -> ClientError {
        if let body = try? decoder.decode(APIErrorBody.self, from: Data(body)) { return .api(body.error) }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return .api(.init(status: status, code: "http-\(status)", message: "HTTP \(status)\(text.isEmpty ? "" : ": \(text)")"))
    }

    private func path(_ vm: String) -> String {
        "/v1/vms/" + (vm.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? vm)
    }

    public func host() throws -> HostInfo { try Self.decode(HostInfo.self, from: http.send("GET", "/v1/host")) }
    public func list() throws -> [VMInfo] { try Self.decode([VMInfo].self, from: http.send("GET", "/v1/vms")) }
    public func show(_ vm: String) throws -> VMInfo { try Self.decode(VMInfo.self, from: http.send("GET", path(vm))) }

    public func define(_ definition: VMDefinition) throws -> VMInfo {
        try Self.decode(VMInfo.self, from: http.send("POST", "/v1/vms", body: Array(Self.encoder.encode(definition))))
    }

    public func update(_ vm: String, to definition: VMDefinition) throws -> VMInfo {
        try Self.decode(VMInfo.self, from: http.send("PUT", path(vm), body: Array(Self.encoder.encode(definition))))
    }

    /// A clone of the template `vm` named `name` (its writable disks become copy-on-write overlays).
    public func clone(_ vm: String, as name: String) throws -> VMInfo {
        try Self.decode(VMInfo.self, from: http.send("POST", path(vm) + "/clone",
                                                     body: Array(Self.encoder.encode(CloneRequest(name: name)))))
    }

    public func undefine(_ vm: String) throws -> VMInfo { try Self.decode(VMInfo.self, from: http.send("DELETE", path(vm))) }

    public func perform(_ operation: VMOperation, on vm: String) throws -> VMInfo {
        try Self.decode(VMInfo.self, from: http.send("POST", path(vm) + "/" + operation.rawValue))
    }

    public func consoleBacklog(_ vm: String) throws -> [UInt8] {
        let response = try http.send("GET", path(vm) + "/console?follow=false")
        guard response.status == 200 else { throw Self.error(from: response.status, body: response.body) }
        return response.body
    }

    /// Streams console output until `onOutput` returns false or the daemon ends the stream.
    public func followConsole(_ vm: String, replay: Bool = true, onOutput: ([UInt8]) throws -> Bool) throws {
        try http.stream("GET", path(vm) + "/console?replay=\(replay)", onData: onOutput)
    }

    /// Sends console input; returns how many bytes the guest accepted.
    public func sendConsole(_ vm: String, bytes: [UInt8]) throws -> Int {
        let response = try http.send("POST", path(vm) + "/console", body: bytes, contentType: "application/octet-stream")
        return try Self.decode([String: Int].self, from: response)["accepted"] ?? 0
    }

    /// Lifecycle events after `since` (nil: only new ones); `onEvent` returns false to stop.
    public func events(since: UInt64?, onEvent: (LifecycleEvent) throws -> Bool) throws {
        var parser = ServerSentEventParser()
        let query = since.map { "?since=\($0)" } ?? ""
        try http.stream("GET", "/v1/events" + query) { piece in
            for data in parser.feed(piece) {
                guard let event = try? Self.decoder.decode(LifecycleEvent.self, from: Data(data.utf8)) else {
                    throw ClientError.protocolError("an event that is not JSON: \(data.prefix(200))")
                }
                if try !onEvent(event) { return false }
            }
            return true
        }
    }
}
