import ApusAPI
import ApusClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every request the daemon refuses before a route sees it gets the JSON error body with its status, and the
/// connection is then closed: a body that stops short (408), a body over the limit whether declared or chunked (413),
/// a request line or header block over 80 KiB, a Content-Length that is not one plain number, an unknown method or
/// version (400). A raw socket plays the client, as curl or a hostile client would.
@Suite struct ProtocolErrorsE2ETests {
    /// Sends `request` on a fresh connection and returns what came back once the daemon closed it.
    private static func refused(_ request: [UInt8], on daemon: DaemonProcess, within seconds: Double = 20)
        -> (responses: [RawHTTPResponse], closed: Bool, raw: String)
    {
        guard let socket = RawSocket(path: daemon.socketPath) else { return ([], false, "cannot connect") }
        _ = request.withUnsafeBytes { Glibc.send(socket.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let received = socket.receiveAll(within: seconds)
        return (RawHTTPResponse.parseAll(received.bytes), received.closed,
                String(decoding: received.bytes.prefix(400), as: UTF8.self))
    }

    private static func expectError(_ result: (responses: [RawHTTPResponse], closed: Bool, raw: String), status: Int,
                                    code: String, message: String, _ what: String) {
        #expect(result.closed, "\(what): the connection stays open")
        #expect(result.responses.count == 1, "\(what): \(result.responses.count) responses: \(result.raw)")
        guard let response = result.responses.first else { return }
        #expect(response.status == status, "\(what): \(result.raw)")
        #expect(response.headers["content-type"] == "application/json", "\(what): \(result.raw)")
        #expect(response.headers["connection"] == "close", "\(what): \(result.raw)")
        let error = response.error
        #expect(error?.error.status == status, "\(what): \(response.text)")
        #expect(error?.error.code == code, "\(what): \(response.text)")
        #expect(error?.error.message.contains(message) == true, "\(what): \(response.text)")
    }

    @Test func refusedRequestsGetTheJSONErrorBody() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start(["--request-timeout", "1", "--idle-timeout", "10"])
        let post = "POST /v1/vms HTTP/1.1\r\nHost: apus\r\nContent-Type: application/json\r\n"

        Self.expectError(Self.refused(Array((post + "Content-Length: 100\r\n\r\n{\"name\"").utf8), on: daemon),
                         status: 408, code: "request-timeout", message: "received 7 bytes of 100 declared",
                         "7 of 100 declared body bytes")
        Self.expectError(Self.refused(Array((post + "Content-Length: 99999999999\r\n\r\n{}").utf8), on: daemon),
                         status: 413, code: "payload-too-large", message: "larger than 65536 bytes",
                         "a Content-Length of 99,999,999,999")
        Self.expectError(Self.refused(Array((post + "Content-Length: 65537\r\n\r\n").utf8), on: daemon),
                         status: 413, code: "payload-too-large", message: "larger than 65536 bytes",
                         "a Content-Length one over the limit")
        // Chunks of 16 KiB, the fifth crossing 64 KiB, and no last chunk: the answer must not wait for one.
        let chunk = "4000\r\n" + String(repeating: "x", count: 0x4000) + "\r\n"
        Self.expectError(Self.refused(Array((post + "Transfer-Encoding: chunked\r\n\r\n" + String(repeating: chunk, count: 5)).utf8),
                                      on: daemon),
                         status: 413, code: "payload-too-large", message: "larger than 65536 bytes",
                         "a chunked body over the limit")
        // A route that answers before the body is in (415: no Content-Type) keeps its answer as the only one; the body
        // then crossing the limit just ends the connection.
        let early = try #require(RawSocket(path: daemon.socketPath))
        #expect(early.send("POST /v1/vms HTTP/1.1\r\nHost: apus\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk))
        let answered = early.receiveAll(within: 3)
        #expect(RawHTTPResponse.parseAll(answered.bytes).map(\.status) == [415],
                "\(String(decoding: answered.bytes.prefix(300), as: UTF8.self))")
        _ = early.send(String(repeating: chunk, count: 4))
        let rest = early.receiveAll(within: 20)
        #expect(rest.closed, "a body over the limit after the answer holds its connection")
        #expect(rest.bytes.isEmpty, "a second answer: \(String(decoding: rest.bytes.prefix(300), as: UTF8.self))")
        Self.expectError(Self.refused(Array(("GET /v1/vms HTTP/1.1\r\nHost: apus\r\nX-Padding: "
                                             + String(repeating: "a", count: 200_000) + "\r\n\r\n").utf8), on: daemon),
                         status: 400, code: "bad-request", message: "larger than the 80 KiB limit", "200 KB of headers")
        Self.expectError(Self.refused(Array(("GET /v1/vms/" + String(repeating: "a", count: 100_000)
                                             + " HTTP/1.1\r\nHost: apus\r\n\r\n").utf8), on: daemon),
                         status: 400, code: "bad-request", message: "larger than the 80 KiB limit", "a 100 KB URL")
        for (length, what) in [("Content-Length: abc", "a Content-Length of abc"),
                               ("Content-Length: -5", "a negative Content-Length"),
                               ("Content-Length: 5\r\nContent-Length: 6", "two different Content-Lengths")] {
            Self.expectError(Self.refused(Array((post + length + "\r\n\r\n{\"a\":1}").utf8), on: daemon),
                             status: 400, code: "bad-request", message: "not valid HTTP/1.1", what)
        }
        Self.expectError(Self.refused(Array("BREW /v1/vms HTTP/1.1\r\nHost: apus\r\n\r\n".utf8), on: daemon),
                         status: 400, code: "bad-request", message: "not valid HTTP/1.1", "an unknown method")
        Self.expectError(Self.refused(Array("GET /v1/vms HTTP/7.3\r\nHost: apus\r\n\r\n".utf8), on: daemon),
                         status: 400, code: "bad-request", message: "not valid HTTP/1.1", "an unknown HTTP version")
        // Garbage after a good request: the request is answered, then the garbage gets its error.
        let garbage = Self.refused(Array("GET /v1/vms HTTP/1.1\r\nHost: apus\r\n\r\n\u{01}\u{02}garbage\r\n\r\n".utf8), on: daemon)
        #expect(garbage.closed)
        #expect(garbage.responses.map(\.status) == [200, 400], "\(garbage.raw)")
        #expect(garbage.responses.last?.error?.error.message.contains("not valid HTTP/1.1") == true, "\(garbage.raw)")

        // None of that disturbed the daemon.
        _ = try daemon.client.define(VMDefinition(name: "after", boot: .guest("hello")))
        #expect(try daemon.client.list().map(\.definition.name) == ["after"])
        #expect(daemon.terminate() == 0)
    }
}

