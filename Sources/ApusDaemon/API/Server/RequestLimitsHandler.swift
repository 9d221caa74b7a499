import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Holds every request to the body limit and the request deadline, answering with the API's JSON error before a
/// route sees it: a declared Content-Length over the limit gets 413 at once (the body is never read), a chunked body
/// that grows past it 413 as it does, and a body that has not arrived in full `timeout` after its head 408 (a client
/// that declares 100 bytes and sends 7 cannot hold a connection and its handler). The connection is closed after
/// such an answer. When an earlier response is still owed, or the route already began answering, the connection is
/// closed once that response is written instead, so responses never interleave. Idle connections between requests
/// and slow request heads are Hummingbird's idle timeout's job.
final class RequestLimitsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private let bodyLimit: Int
    private let logger: Logger
    private var deadline: Scheduled<Void>?
    private var progress = ResponseProgress()
    private var bodyBytes = 0
    /// Set once a request is refused: nothing read after it is passed on.
    private var refused = false
    private var closeAfterResponse = false

    init(timeout: TimeAmount, bodyLimit: Int, logger: Logger) {
        self.timeout = timeout
        self.bodyLimit = bodyLimit
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let part = unwrapInboundIn(data)
        progress.requestRead(part)
        switch part {
        case .head(let head):
            bodyBytes = 0
            if let declared = head.headerFields[.contentLength], Self.exceeds(declared, bodyLimit) {
                refuse(.payloadTooLarge(limit: bodyLimit), context: context)
                return
            }
            startDeadline(for: head, context: context)
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            if bodyBytes > bodyLimit {
                refuse(.payloadTooLarge(limit: bodyLimit), context: context)
                return
            }
        case .end:
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        progress.responseWritten(part)
        guard case .end = part, closeAfterResponse else {
            context.write(data, promise: promise)
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(data).assumeIsolated().whenComplete { result in
            promise?.completeWith(result)
            ErrorAnswer.closeLingering(bound.value)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    /// A declared length over the limit; digits too many for an Int are over it too (the parser already refused
    /// anything that is not a plain decimal number).
    private static func exceeds(_ declared: String, _ limit: Int) -> Bool {
        if let length = Int(declared) { return length > limit }
        return !declared.isEmpty && declared.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private func startDeadline(for head: HTTPRequest, context: ChannelHandlerContext) {
        deadline?.cancel()
        let what = "\(head.method.rawValue) \(head.path ?? "")"
        let declared = head.headerFields[.contentLength]
        let milliseconds = timeout.nanoseconds / 1_000_000
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.deadline = nil
            handler.logger.notice("refusing a request: the body of \(what) did not arrive within \(milliseconds) ms")
            let received = "\(handler.bodyBytes) byte\(handler.bodyBytes == 1 ? "" : "s")"
            let message = "the request body did not arrive within \(milliseconds) ms (received \(received)"
                + (declared.map { " of \($0) declared" } ?? "") + "); closing the connection"
            handler.refuse(.requestTimeout(message), context: context)
        }
    }

    private func refuse(_ error: DaemonError, context: ChannelHandlerContext) {
        refused = true
        deadline?.cancel()
        deadline = nil
        if progress.mayAnswerCurrent {
            ErrorAnswer.writeAndClose(error, context: context)
        } else if progress.unanswered == 1 && progress.responseStarted {
            // The route is already answering this request (it did not need the rest of the body).
            closeAfterResponse = true
        } else if progress.unanswered == 0 {
            // The route answered before the body was in; the answer stands, the rest of the body is refused.
            ErrorAnswer.closeLingering(context)
        } else {
            // An earlier response is still owed; nothing may be written before it, and waiting would hold the
            // connection for the client that broke the limit.
            context.close(promise: nil)
        }
    }
}
