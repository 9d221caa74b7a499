import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers the hot read-only routes (HotReadRoutes) on the event loop that read the request, sparing each of them
/// the hand-offs to Swift concurrency's threads and back that cost most of a request's time. It sits last before the
/// router, after Hummingbird's connection state handler (which so sees every request and response, for its idle
/// timer and graceful shutdown), and answers only when every earlier request on the connection is answered, so
/// responses keep their order; anything else passes on untouched.
final class HotReadResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let routes: HotReadRoutes
    /// Requests passed on to the router and not answered yet.
    private var routed = 0
    /// A hot request whose end has not arrived yet, and when its head did.
    private var pending: (request: HTTPRequest, route: HotReadRoutes.Route, arrived: ContinuousClock.Instant)?

    init(routes: HotReadRoutes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if routed == 0, pending == nil, let route = HotReadRoutes.route(of: request) {
                pending = (request, route, .now)
                return
            }
            routed += 1
        case .body:
            // The router ignores a GET's body; so does this.
            if pending != nil { return }
        case .end:
            if let (request, route, arrived) = pending {
                pending = nil
                answer(request, route: route, arrived: arrived, context: context)
                return
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routed -= 1 }
        context.write(data, promise: promise)
    }

    private func answer(_ request: HTTPRequest, route: HotReadRoutes.Route, arrived: ContinuousClock.Instant,
                        context: ChannelHandlerContext) {
        let answer = routes.answer(route)
        let head = HTTPResponse(status: answer.status, headerFields: [
            .contentType: "application/json", .contentLength: "\(answer.body.readableBytes)",
        ])
        context.write(NIOAny(HTTPResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPResponsePart.body(answer.body)), promise: nil)
        let written = context.writeAndFlush(NIOAny(HTTPResponsePart.end(nil)))
        routes.observe(answer, duration: .now - arrived)
        // As the router's connection loop does: the connection ends after a response to "Connection: close".
        if request.headerFields[.connection]?.lowercased().contains("close") == true {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.assumeIsolated().whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
