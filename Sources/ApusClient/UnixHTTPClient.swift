
/// HTTP/1.1 over apusd's Unix socket, one connection per request, blocking. Enough for the CLI and tests; the wire
/// format is plain, so curl --unix-socket speaks it too.
public struct UnixHTTPClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
    }

    public let socketPath: String

    public init(socketPath: String) { self.socketPath = socketPath }

    public func send(_ method: String, _ path: String, body: [UInt8]? = nil,
                     contentType: String = "application/json", headers: [String: String] = [:]) throws -> Response {
        var collected: [UInt8] = []
        let head = try exchange(method, path, body: body, contentType: contentType, headers: headers,
                                streaming: false) { piece in
            collected += piece
            return true
        }
        return Response(status: head.status, headers: head.headers, body: collected)
    }

    /// Sends a request and hands a successful body to `onData` piece by piece as it arrives (returning false stops
    /// early); an error answer is read whole and thrown as the daemon's error.
    public func stream(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                       onData: ([UInt8]) throws -> Bool) throws {
        try exchange(method, path, body: body, contentType: contentType, streaming: true, onData: onData)
    }

    @discardableResult
    private func exchange(_ method: String, _ path: String, body: [UInt8]?, contentType: String,
                          headers: [String: String] = [:], streaming: Bool,
                          onData: ([UInt8]) throws -> Bool) throws -> HTTPResponseReader.Head {
        let connection = try UnixSocketConnection(path: socketPath)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: apusd\r\nConnection: close\r\nUser-Agent: apus/cli\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
        if let body {
            request += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        } else if method == "POST" || method == "PUT" {
            request += "Content-Length: 0\r\n"
        }
        request += "\r\n"
        try connection.write(Array(request.utf8) + (body ?? []))
        var reader = HTTPResponseReader(connection: connection)
        let head = try reader.readHead()
        if streaming && !(200..<300).contains(head.status) {
            var errorBody: [UInt8] = []
            try reader.readBody(head) { errorBody += $0; return errorBody.count < 1 << 20 }
            throw ApusAPIClient.error(from: head.status, body: errorBody)
        }
        try reader.readBody(head, onData: onData)
        return head
    }
}
