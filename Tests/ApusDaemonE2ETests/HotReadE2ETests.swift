import ApusAPI
import ApusClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// GET /v1/vms and GET /v1/vms/{id} are answered on the event loop (HotReadResponder) for speed; what a client sees
/// must not change: the same bytes the router sends for the same question, answers in request order when requests
/// are pipelined, keep-alive, and the latency histogram.
@Suite struct HotReadE2ETests {
    private static func exchange(_ requests: String, on daemon: DaemonProcess, within seconds: Double = 20)
        -> (responses: [RawHTTPResponse], closed: Bool)
    {
        guard let socket = RawSocket(path: daemon.socketPath), socket.send(requests) else { return ([], false) }
        let received = socket.receiveAll(within: seconds)
        return (RawHTTPResponse.parseAll(received.bytes), received.closed)
    }

    private static func get(_ path: String, close: Bool = true) -> String {
        "GET \(path) HTTP/1.1\r\nHost: apus\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n"
    }

    @Test func hotReadsAnswerWhatTheRouterAnswers() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start(["--isolation", "none"])
        let probe = try daemon.client.define(VMDefinition(name: "probe", boot: .guest("counter")))
        _ = try daemon.client.define(VMDefinition(name: "other", boot: .guest("counter")))
        _ = try daemon.client.perform(.start, on: "other")
        _ = try daemon.client.perform(.pause, on: "other")

        // A query string sends the same question the ordinary way, through the router.
        for path in ["/v1/vms/probe", "/v1/vms/\(probe.id)", "/v1/vms/other", "/v1/vms", "/v1/vms/ghost", "/v1/vms/a.b_c-d"] {
            let hot = Self.exchange(Self.get(path), on: daemon)
            let routed = Self.exchange(Self.get(path + "?via=router"), on: daemon)
            #expect(hot.closed && routed.closed, "\(path): Connection: close was not honoured")
            guard let fast = hot.responses.first, let slow = routed.responses.first else {
                Issue.record("\(path): no response")
                continue
            }
            #expect(hot.responses.count == 1 && routed.responses.count == 1)
            #expect(fast.headerBlock == slow.headerBlock, "\(path)")
            #expect(fast.body == slow.body, "\(path):\n\(fast.text)\n\(slow.text)")
        }
        let shown = try #require(Self.exchange(Self.get("/v1/vms/probe"), on: daemon).responses.first)
        #expect(shown.status == 200)
        #expect(try JSONDecoder.iso8601.decode(VMInfo.self, from: Data(shown.body)).id == probe.id)
        let missing = try #require(Self.exchange(Self.get("/v1/vms/ghost"), on: daemon).responses.first)
        #expect(missing.status == 404)
        #expect(missing.error?.error.message == "no VM with id or name 'ghost'")

        // Pipelined: answers come back in the order asked, hot or not, and the connection stays open without
        // Connection: close.
        let pipelined = Self.exchange(Self.get("/v1/host", close: false) + Self.get("/v1/vms/probe", close: false)
                                      + Self.get("/v1/vms", close: false) + Self.get("/v1/vms/ghost", close: false)
                                      + Self.get("/v1/events?since=x", close: false) + Self.get("/v1/vms/other", close: false),
                                      on: daemon, within: 3)
        #expect(!pipelined.closed, "a keep-alive connection was closed")
        #expect(pipelined.responses.map(\.status) == [200, 200, 200, 404, 400, 200])
        if pipelined.responses.count == 6 {
            #expect(pipelined.responses[0].text.contains("\"stateDirectory\""))
            #expect(pipelined.responses[1].text.contains("\"name\":\"probe\""))
            #expect(pipelined.responses[2].text.hasPrefix("["))
            #expect(pipelined.responses[4].error?.error.message.contains("sequence number") == true)
            #expect(pipelined.responses[5].text.contains("\"name\":\"other\""))
        }

        // The latency histogram counts hot answers under the route pattern, as the router labels it.
        let metrics = String(decoding: try UnixHTTPClient(socketPath: daemon.socketPath).send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("route=\"/v1/vms/{id}\",status=\"200\""), "\(metrics.prefix(2000))")
        #expect(metrics.contains("route=\"/v1/vms/{id}\",status=\"404\""))
        #expect(metrics.contains("route=\"/v1/vms\",status=\"200\""))
        #expect(daemon.terminate() == 0)
    }

    /// Hot answers are never stale: a GET right after each change (pause, resume, a new definition, undefine, a new
    /// VM) shows the change, on the hot path and in the list.
    @Test func aGetRightAfterAChangeShowsIt() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start(["--isolation", "none"])
        func shown(_ path: String) throws -> RawHTTPResponse {
            try #require(Self.exchange(Self.get(path), on: daemon).responses.first, "no answer to GET \(path)")
        }
        func state(_ name: String) throws -> String? {
            try JSONDecoder.iso8601.decode(VMInfo.self, from: Data(try shown("/v1/vms/\(name)").body)).state.rawValue
        }
        _ = try daemon.client.define(VMDefinition(name: "probe", boot: .guest("counter")))
        #expect(try state("probe") == "inactive")
        for round in 0..<5 {
            _ = try daemon.client.perform(.start, on: "probe")
            #expect(try state("probe") == "active", "round \(round)")
            _ = try daemon.client.perform(.pause, on: "probe")
            #expect(try state("probe") == "paused", "round \(round)")
            _ = try daemon.client.perform(.resume, on: "probe")
            #expect(try state("probe") == "active", "round \(round)")
            _ = try daemon.client.perform(.stop, on: "probe")
            #expect(try state("probe") == "inactive", "round \(round)")
        }
        _ = try daemon.client.update("probe", to: VMDefinition(name: "probe", memoryMiB: 96, boot: .guest("counter")))
        let updated = try JSONDecoder.iso8601.decode(VMInfo.self, from: Data(try shown("/v1/vms/probe").body))
        #expect(updated.definition.memoryMiB == 96)
        _ = try daemon.client.define(VMDefinition(name: "second", boot: .guest("counter")))
        var listed = try JSONDecoder.iso8601.decode([VMInfo].self, from: Data(try shown("/v1/vms").body))
        #expect(Set(listed.map(\.definition.name)) == ["probe", "second"])
        _ = try daemon.client.undefine("probe")
        #expect(try shown("/v1/vms/probe").status == 404)
        listed = try JSONDecoder.iso8601.decode([VMInfo].self, from: Data(try shown("/v1/vms").body))
        #expect(listed.map(\.definition.name) == ["second"])
        #expect(daemon.terminate() == 0)
    }

    /// A connection is handed to the router only when a request needs it: hot reads before and after a routed
    /// request on one keep-alive connection still come back in order, and a connection that only ever asked hot reads
    /// ends when its client closes its side, its answers written in full first.
    @Test func connectionsMoveToTheRouterWhenARequestNeedsIt() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start(["--isolation", "none"])
        for index in 0..<40 {
            _ = try daemon.client.define(VMDefinition(name: "vm-\(index)-" + String(repeating: "x", count: 40), boot: .guest("counter")))
        }
        let defineBody = #"{"name":"late","boot":{"guest":"counter"}}"#
        let pipelined = Self.exchange(Self.get("/v1/vms/vm-0-" + String(repeating: "x", count: 40), close: false)
                                      + Self.get("/v1/vms", close: false)
                                      + "POST /v1/vms HTTP/1.1\r\nHost: apus\r\nContent-Type: application/json\r\n"
                                      + "Content-Length: \(defineBody.utf8.count)\r\n\r\n" + defineBody
                                      + Self.get("/v1/vms/late", close: false) + Self.get("/v1/host", close: false)
                                      + Self.get("/v1/vms/late", close: true),
                                      on: daemon, within: 20)
        #expect(pipelined.closed)
        #expect(pipelined.responses.map(\.status) == [200, 200, 201, 200, 200, 200])
        if pipelined.responses.count == 6 {
            #expect(pipelined.responses[3].text.contains("\"name\":\"late\""), "a hot read after a routed define sees it")
            #expect(pipelined.responses[4].text.contains("\"stateDirectory\""))
        }

        // Hot reads only, then the client shuts its side: the daemon answers everything and closes, every time
        // (left open, each would hold a descriptor until the idle timeout).
        let fullList = try #require(Self.exchange(Self.get("/v1/vms"), on: daemon).responses.first)
        for round in 0..<30 {
            let socket = try #require(RawSocket(path: daemon.socketPath))
            #expect(socket.send(Self.get("/v1/vms", close: false) + Self.get("/v1/vms/vm-1-" + String(repeating: "x", count: 40), close: false)))
            socket.shutdownWrite()
            let received = socket.receiveAll(within: 20)
            #expect(received.closed, "round \(round): the daemon kept a connection its client had closed")
            let answers = RawHTTPResponse.parseAll(received.bytes)
            #expect(answers.map(\.status) == [200, 200], "round \(round)")
            #expect(answers.first?.body == fullList.body, "round \(round): the list was cut short")
        }
        #expect(daemon.terminate() == 0)
    }
}
