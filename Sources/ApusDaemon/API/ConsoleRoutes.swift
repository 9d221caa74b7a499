import ApusAPI
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle

/// `/v1/vms/{id}/console`: GET streams the serial output (the buffered backlog first unless `replay=false`; only the
/// backlog with `follow=false`); POST sends the request body to the guest's UART as input.
struct ConsoleRoutes {
    /// How long input waits for the guest to drain its 16-byte receive FIFO before the rest is refused.
    static let inputPatience: Duration = .seconds(2)
    let registry: VMRegistry

    func register(on routes: APIRoutes) {
        routes.on(.get, "/v1/vms/{id}/console") { request, context in
            let controller = try registry.find(context.parameters.require("id"))
            let follow = try flag(request, "follow", default: true)
            let replay = try flag(request, "replay", default: true)
            let headers: HTTPFields = [.contentType: "application/octet-stream", .cacheControl: "no-store"]
            guard follow else {
                return Response(status: .ok, headers: headers,
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: controller.console.backlog)))
            }
            let subscription = controller.console.attach(replay: replay)
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                try await withGracefulShutdownHandler {
                    for await batch in subscription.batches {
                        try await writer.write(ByteBuffer(bytes: batch))
                    }
                } onGracefulShutdown: {
                    subscription.finish()
                }
                subscription.finish()
                try await writer.finish(nil)
            })
        }
        routes.on(.post, "/v1/vms/{id}/console") { request, context in
            let controller = try registry.find(context.parameters.require("id"))
            let body = try await RequestBody.required(request, mediaType: "application/octet-stream",
                                                      what: "the bytes to send to the guest")
            var remaining = Array(body.readableBytesView)
            let total = remaining.count
            let deadline = ContinuousClock.now + Self.inputPatience
            while !remaining.isEmpty {
                let accepted = try controller.sendConsoleInput(remaining)
                remaining.removeFirst(accepted)
                if accepted == 0 {
                    guard ContinuousClock.now < deadline else { break }
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            return try JSONResponse.make(["accepted": total - remaining.count, "refused": remaining.count])
        }
    }

    private func flag(_ request: Request, _ name: String, default value: Bool) throws -> Bool {
        guard let text = request.uri.queryParameters.get(name) else { return value }
        switch text {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw DaemonError.badRequest("query parameter '\(name)' must be true or false, got '\(text)'")
        }
    }
}
