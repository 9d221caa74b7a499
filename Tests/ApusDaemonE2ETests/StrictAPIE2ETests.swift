import ApusAPI
import ApusClient
import Foundation
import Testing

/// The API says exactly what it takes: what Foundation's decoder would have let through is refused by name, media
/// types are checked, required bodies are required, wrong methods get 405 with Allow, and even requests the HTTP
/// parser rejects get the JSON error body.
@Suite struct StrictAPIE2ETests {
    private func error(_ response: UnixHTTPClient.Response) -> APIErrorBody.Detail? {
        try? JSONDecoder().decode(APIErrorBody.self, from: Data(response.body)).error
    }

    @Test func ambiguousOrMislabelledRequestsAreRefusedPrecisely() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        let bodies: [(String, String)] = [
            (#"{"name": "a", "name": "b", "boot": {"guest": "hello"}}"#, "field 'name' is given more than once"),
            (#"{"name": "a", "memoryMiB": 1000.0, "boot": {"guest": "hello"}}"#, "'memoryMiB' must be an integer, got 1000.0"),
            (#"{"name": "a", "memoryMiB": 1.5, "boot": {"guest": "hello"}}"#, "'memoryMiB' must be an integer, got 1.5"),
            (#"{"name": "a", "memoryMiB": null, "boot": {"guest": "hello"}}"#, "'memoryMiB' must not be null"),
            ("1.5", "the body must be a JSON object"),
            ("", "the request needs a body"),
        ]
        for (body, message) in bodies {
            let response = try http.send("POST", "/v1/vms", body: Array(body.utf8))
            #expect(response.status == 400, "\(body)")
            #expect(error(response)?.message.contains(message) == true, "\(body): \(String(decoding: response.body, as: UTF8.self))")
        }
        let plain = try http.send("POST", "/v1/vms", body: Array(#"{"name": "a", "boot": {"guest": "hello"}}"#.utf8),
                                  contentType: "text/plain")
        #expect(plain.status == 415)
        #expect(error(plain)?.code == "unsupported-media-type")
        #expect(error(plain)?.message.contains("Content-Type: application/json, not 'text/plain'") == true)
        #expect(try daemon.client.list().isEmpty)

        // Console input needs its body, as application/octet-stream.
        _ = try daemon.client.define(VMDefinition(name: "quiet", boot: .guest("hello")))
        let empty = try http.send("POST", "/v1/vms/quiet/console", body: [], contentType: "application/octet-stream")
        #expect(empty.status == 400)
        #expect(error(empty)?.message.contains("needs a body") == true)
        let json = try http.send("POST", "/v1/vms/quiet/console", body: Array("x".utf8))
        #expect(json.status == 415)

        // Known paths, wrong methods: 405 with Allow.
        for (method, path, allow) in [("TRACE", "/v1/vms", "GET, POST"), ("PATCH", "/v1/vms", "GET, POST"),
                                      ("DELETE", "/v1/vms", "GET, POST"), ("GET", "/v1/vms/quiet/start", "POST"),
                                      ("PATCH", "/v1/vms/quiet", "GET, PUT, DELETE")] {
            let response = try http.send(method, path)
            #expect(response.status == 405, "\(method) \(path)")
            #expect(response.headers["allow"] == allow, "\(method) \(path): \(response.headers)")
            #expect(error(response)?.code == "method-not-allowed")
        }
        #expect(try http.send("GET", "/v1/nowhere").status == 404)

        // Requests the parser refuses still get the JSON error body.
        for request in ["GET /v1/vms?" + String(repeating: "a", count: 100_000) + " HTTP/1.1\r\nHost: apus\r\n\r\n",
                        "GET /v1/vms HTTP/1.1\r\nHost: apus\r\nX-Big: " + String(repeating: "b", count: 200_000) + "\r\n\r\n",
                        "NOT HTTP AT ALL\r\n\r\n"] {
            let socket = try #require(RawSocket(path: daemon.socketPath))
            _ = socket.send(request)
            let text = String(decoding: socket.receiveAll(within: 10).bytes, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 400"), "\(request.prefix(40)): \(text.prefix(200))")
            #expect(text.contains("\"code\":\"bad-request\""), "\(request.prefix(40)): \(text.prefix(300))")
        }
        #expect(daemon.terminate() == 0)
    }

    @Test func operationIdsTellAClientWhatHappened() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        _ = try daemon.client.define(VMDefinition(name: "ops", boot: .guest("counter")))

        let started = try http.send("POST", "/v1/vms/ops/start", headers: ["Operation-Id": "client-chosen-1"])
        #expect(started.status == 200)
        #expect(started.headers["operation-id"] == "client-chosen-1")
        // A client that lost that reply finds the outcome on the VM...
        let shown = try daemon.client.show("ops")
        #expect(shown.lastOperation?.id == "client-chosen-1")
        #expect(shown.lastOperation?.operation == .start)
        #expect(shown.lastOperation?.status == .succeeded)
        // ...and on the event it caused.
        var events: [UInt8] = []
        try http.stream("GET", "/v1/events?since=0") { piece in
            events += piece
            return !String(decoding: events, as: UTF8.self).contains("client-chosen-1")
        }
        #expect(String(decoding: events, as: UTF8.self).contains(#""kind":"started","name":"ops","operation":"client-chosen-1""#))

        // Without a header the daemon makes an id; a malformed one is refused.
        let paused = try http.send("POST", "/v1/vms/ops/pause")
        let madeID = try #require(paused.headers["operation-id"])
        #expect(try daemon.client.show("ops").lastOperation?.id == madeID)
        #expect(try http.send("POST", "/v1/vms/ops/resume", headers: ["Operation-Id": "no spaces"]).status == 400)

        // A failed operation is recorded as failed, with why.
        let image = daemon.imageRoot + "/gone.elf"
        try Data("an image".utf8).write(to: URL(fileURLWithPath: image))
        _ = try daemon.client.define(VMDefinition(name: "fails", boot: .image(path: image)))
        try FileManager.default.removeItem(atPath: image)
        #expect(try http.send("POST", "/v1/vms/fails/start", headers: ["Operation-Id": "doomed"]).status == 422)
        let failed = try daemon.client.show("fails").lastOperation
        #expect(failed?.id == "doomed" && failed?.status == .failed)
        #expect(failed?.message?.contains("No such file or directory") == true)

        // The record survives a restart.
        #expect(daemon.terminate() == 0)
        try daemon.start()
        #expect(try daemon.client.show("fails").lastOperation?.id == "doomed")
        #expect(daemon.terminate() == 0)
    }
}
