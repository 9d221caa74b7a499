import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request has not arrived in full `timeout` after its head: a client that declares 100
/// body bytes and sends 7 cannot hold a connection (and its handler) for ever. Idle connections between requests
/// and slow request heads are Hummingbird's idle timeout's job.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private let logger: Logger
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            deadline?.cancel()
            let path = head.path ?? ""
            let timeout = self.timeout
            let logger = self.logger
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                logger.notice("closing a connection: the body of \(head.method.rawValue) \(path) did not arrive within \(timeout.nanoseconds / 1_000_000) ms")
                bound.value.close(promise: nil)
            }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
