import ApusAPI
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request the HTTP parser rejected (a 100 KB URL, 200 KB of headers, garbage) with the API's JSON error
/// body and closes the connection; without it the client got a bare 400 with an empty body. When a response to an
/// earlier request is still being written, the connection is just closed, so responses never interleave.
final class MalformedRequestResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var requestsUnanswered = 0
    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { requestsUnanswered += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { requestsUnanswered -= 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !failed else { return }
        failed = true
        guard requestsUnanswered == 0 else {
            context.close(promise: nil)
            return
        }
        let message: String
        if let parserError = error as? HTTPParserError, case .headerOverflow = parserError {
            message = "the request line and headers are larger than the 80 KiB limit"
        } else {
            message = "the request is not valid HTTP/1.1 (\(error))"
        }
        let body = Self.body(DaemonError.badRequest(message))
        let head = HTTPResponse(status: .badRequest, headerFields: [
            .contentType: "application/json", .contentLength: "\(body.readableBytes)", .connection: "close",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in bound.value.close(promise: nil) }
    }

    private static func body(_ error: DaemonError) -> ByteBuffer {
        var data = (try? JSONResponse.encoder.encode(error.body)) ?? Data("{}".utf8)
        data.append(0x0A)
        return ByteBuffer(bytes: data)
    }
}
