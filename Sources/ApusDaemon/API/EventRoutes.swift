import ApusAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle

/// `GET /v1/events`: lifecycle events as server-sent events. Each carries its sequence number as the SSE id, so a
/// client reconnecting with `Last-Event-ID` (or `?since=N`) receives everything after it that is still buffered.
struct EventRoutes {
    let events: EventLog

    func register(on routes: APIRoutes) {
        routes.on(.get, "/v1/events") { request, _ in
            let since = try startSequence(request)
            let subscription = events.subscribe(after: since)
            return Response(status: .ok,
                            headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                            body: ResponseBody { writer in
                                // A comment line first, so a client knows the stream is open before any event.
                                try await writer.write(ByteBuffer(string: ": apusd lifecycle events after \(since)\n\n"))
                                try await withGracefulShutdownHandler {
                                    for await event in subscription.events {
                                        try await writer.write(ByteBuffer(bytes: Self.frame(event)))
                                    }
                                } onGracefulShutdown: {
                                    subscription.finish()
                                }
                                subscription.finish()
                                try await writer.finish(nil)
                            })
        }
    }

    static func frame(_ event: LifecycleEvent) -> [UInt8] {
        let json = (try? JSONResponse.encoder.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return Array("id: \(event.sequence)\nevent: \(event.kind.rawValue)\ndata: \(json)\n\n".utf8)
    }

    private func startSequence(_ request: Request) throws -> UInt64 {
        let text = request.uri.queryParameters.get("since").map { String($0) }
            ?? HTTPField.Name("Last-Event-ID").flatMap { request.headers[$0] }
        guard let text else { return events.lastSequence }
        guard let sequence = UInt64(text) else {
            throw DaemonError.badRequest("'since' / Last-Event-ID must be an event sequence number, got '\(text)'")
        }
        return sequence
    }
}
