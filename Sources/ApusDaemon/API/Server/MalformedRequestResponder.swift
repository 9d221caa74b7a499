import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request the HTTP parser rejected (a 100 KB URL, 200 KB of headers, a bad Content-Length, an unknown
/// method or version, garbage) with the API's JSON error body and closes the connection; without it the client got a
/// bare 400 with an empty body. When a response to an earlier request is still being written, the connection is
/// just closed, so responses never interleave.
final class MalformedRequestResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var progress = ResponseProgress()
    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        progress.requestRead(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        progress.responseWritten(unwrapOutboundIn(data))
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !failed else { return }
        failed = true
        guard progress.mayAnswerCurrent else {
            context.close(promise: nil)
            return
        }
        let message: String
        if let parserError = error as? HTTPParserError, case .headerOverflow = parserError {
            message = "the request line and headers are larger than the 80 KiB limit"
        } else {
            message = "the request is not valid HTTP/1.1 (\(error))"
        }
        ErrorAnswer.writeAndClose(.badRequest(message), context: context)
    }
}
