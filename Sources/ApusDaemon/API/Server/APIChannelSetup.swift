import ApusAPI
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The handlers of one client connection, in the order a request passes them: NIO's HTTP/1.1 codec (80 KiB of
/// request line and headers at most), the conversion to HTTPTypes, the JSON answer to unparsable requests, the body
/// limit and deadline, Hummingbird's connection state (idle timeout, graceful shutdown), and the hot read routes,
/// which hand the connection to the router (an async channel after them) when a request needs it. It is Hummingbird's
/// HTTP1Channel setup with the hot read responder placed after the connection state handler, which HTTP1Channel's
/// additional handlers cannot be, and with the async channel made only for connections that need the router.
struct APIChannelSetup: Sendable {
    let requestTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let hotReads: HotReadRoutes
    let router: RouterHandOff
    let logger: Logger

    static let headerLimitBytes = 80 * 1024

    func setup(channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture(withResultOf: {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = Self.headerLimitBytes
            limits.maxHeaderListSize = Self.headerLimitBytes
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(MalformedRequestResponder())
            try pipeline.addHandler(RequestLimitsHandler(timeout: requestTimeout,
                                                         bodyLimit: ApusVersion.maximumRequestBodyBytes, logger: logger))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: .init(idleTimeout), logger: logger))
            try pipeline.addHandler(HotReadResponder(routes: hotReads, router: router))
        })
    }
}
