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
}
