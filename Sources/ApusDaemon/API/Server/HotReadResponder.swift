import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers the hot read-only routes (HotReadRoutes) on the event loop that read the request, sparing each of them
/// the hand-offs to Swift concurrency's threads and back that cost most of a request's time, and hands the
/// connection to the router (RouterHandOff) when the first request that needs it arrives. It sits last, after
/// Hummingbird's connection state handler (which so sees every request and response, for its idle timer and graceful
/// shutdown), and answers only when every earlier request on the connection is answered, so responses keep their
/// order; anything else passes on untouched. Until the router has the connection, this handler also ends it when the
/// client closes its side, as the router's connection loop would.
final class HotReadResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let routes: HotReadRoutes
    private let router: RouterHandOff
    /// Whether the router has the connection (its async channel is installed after this handler).
    private var routerAttached = false
    /// Requests passed on to the router and not answered yet.
    private var routed = 0
    /// A hot request whose end has not arrived yet, and when its head did.
    private var pending: (request: HTTPRequest, route: HotReadRoutes.Route, arrived: ContinuousClock.Instant)?
    /// The last hot answer's write, until it is done: closing before it would drop its unwritten bytes.
    private var lastAnswer: EventLoopFuture<Void>?

    init(routes: HotReadRoutes, router: RouterHandOff) {
        self.routes = routes
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if routed == 0, pending == nil, let route = HotReadRoutes.route(of: request) {
                pending = (request, route, .now)
                return
            }
            if !routerAttached {
                do {
                    try router.handOff(context.channel)
                    routerAttached = true
                } catch {
                    context.close(promise: nil)
                    return
                }
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

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard !routerAttached, case ChannelEvent.inputClosed = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The client sent all it will; every complete request it sent is answered (hot answers are written at once).
        guard let lastAnswer else {
            context.close(promise: nil)
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        lastAnswer.assumeIsolated().whenComplete { _ in bound.value.close(promise: nil) }
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
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        // As the router's connection loop does: the connection ends after a response to "Connection: close".
        let closeAfter = request.headerFields[.connection]?.lowercased().contains("close") == true
        lastAnswer = written
        written.assumeIsolated().whenComplete { _ in
            let (handler, context) = bound.value
            if handler.lastAnswer === written { handler.lastAnswer = nil }
            if closeAfter { context.close(promise: nil) }
        }
    }
}
