import ApusAPI
import ApusClient
import Foundation
import ApusTesting
import Testing

/// Bad requests get a JSON error with a message, and the daemon keeps serving; every route docs/openapi.yaml
/// documents is served.
@Suite struct APIInputE2ETests {
    @Test func badRequestsGetJSONErrorsAndTheDaemonKeepsServing() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        let cases: [(String, String, String, Int, String)] = [
            ("POST", "/v1/vms", "{\"name\": \"x\",", 400, "not valid JSON"),
            ("POST", "/v1/vms", "{\"name\": \"x\", \"boot\": {\"guest\": \"hello\"}, \"memoryMib\": 5}", 400, "unknown field 'memoryMib'"),
            ("POST", "/v1/vms", "{\"name\": 7, \"boot\": {\"guest\": \"hello\"}}", 400, "'name' must be a string"),
            ("POST", "/v1/vms", "{\"boot\": {\"guest\": \"hello\"}}", 400, "missing field 'name'"),
            ("POST", "/v1/vms", "{\"name\": \"a/b\", \"boot\": {\"guest\": \"hello\"}}", 400, "not a valid name"),
            ("POST", "/v1/vms", "{\"name\": \"x\", \"boot\": {\"guest\": \"hello\", \"image\": \"/x\"}}", 400, "exactly one"),
            ("POST", "/v1/vms", "{\"name\": \"x\", \"boot\": {\"kernel\": \"/no/such/kernel\"}}", 422, "No such file"),
            ("POST", "/v1/vms", "{\"name\": \"x\", \"boot\": {\"guest\": \"nope\"}}", 422, "no built-in guest"),
            ("POST", "/v1/vms", "{\"name\": \"x\", \"memoryMiB\": 1, \"boot\": {\"guest\": \"hello\"}}", 400, "memory must be"),
            ("POST", "/v1/vms", "{\"name\": \"x\", \"backend\": \"vmware\", \"boot\": {\"guest\": \"hello\"}}", 400, "unknown backend"),
            ("POST", "/v1/vms", String(repeating: " ", count: 70_000), 413, "larger than 65536"),
            ("GET", "/v1/vms/ghost", "", 404, "no VM with id or name 'ghost'"),
            ("POST", "/v1/vms/ghost/start", "", 404, "no VM"),
            ("GET", "/v1/nowhere", "", 404, "no such resource"),
            ("GET", "/v1/events?since=yesterday", "", 400, "sequence number"),
        ]
        for (method, path, body, status, message) in cases {
            let response = try http.send(method, path, body: body.isEmpty ? nil : Array(body.utf8))
            #expect(response.status == status, "\(method) \(path) \(body.prefix(60))")
            let error = try? JSONDecoder().decode(APIErrorBody.self, from: Data(response.body))
            #expect(error?.error.message.contains(message) == true,
                    "\(method) \(path): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        _ = try daemon.client.define(VMDefinition(name: "x", boot: .guest("hello")))
        #expect(throws: ClientError.self) { try daemon.client.define(VMDefinition(name: "x", boot: .guest("hello"))) }
        #expect(try daemon.client.list().count == 1)

        // A second start answers 409 with the state.
        _ = try daemon.client.define(VMDefinition(name: "runner", boot: .guest("counter")))
        _ = try daemon.client.perform(.start, on: "runner")
        let second = try http.send("POST", "/v1/vms/runner/start")
        #expect(second.status == 409)
        #expect(String(decoding: second.body, as: UTF8.self).contains("\"state\":\"active\""))

        // An image that disappears between define and start: 422 naming the file, and the VM stays inactive.
        let image = daemon.imageRoot + "/guest.elf"
        try Data("a guest image".utf8).write(to: URL(fileURLWithPath: image))
        _ = try daemon.client.define(VMDefinition(name: "vanishing", boot: .image(path: image)))
        try FileManager.default.removeItem(atPath: image)
        let start = try http.send("POST", "/v1/vms/vanishing/start")
        #expect(start.status == 422)
        #expect(String(decoding: start.body, as: UTF8.self).contains("No such file or directory"))
        #expect(try daemon.client.show("vanishing").state == .inactive)

        // Metrics count VMs per state and exits per VM and kind.
        try DaemonProcess.wait(for: "exits to be counted") {
            let metrics = String(decoding: try http.send("GET", "/metrics").body, as: UTF8.self)
            return metrics.contains("apus_vm_exits_total{vm=\"runner\",kind=\"pio\"}")
                && metrics.contains("apus_vms{state=\"active\"} 1")
                && metrics.contains("apus_api_request_duration_seconds_count")
        }
        #expect(daemon.terminate() == 0)
    }

    @Test func everyDocumentedRouteIsServed() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        let documented = try OpenAPIDocument.routes()
        #expect(documented.count >= 15)
        for route in documented where !(route.method == "GET" && route.path == "/v1/events") {
            let path = route.path.replacingOccurrences(of: "{id}", with: "ghost")
            let response = try http.send(route.method, path, body: route.method == "GET" ? nil : Array("{}".utf8))
            let text = String(decoding: response.body.prefix(300), as: UTF8.self)
            #expect(!text.contains("no such resource"), "\(route.method) \(route.path) is documented but not served")
        }
        #expect(daemon.terminate() == 0)
    }
}

