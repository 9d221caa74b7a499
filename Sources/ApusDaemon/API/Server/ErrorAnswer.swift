import ApusAPI
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// A JSON error response written by a channel handler (the request never reached a route), followed by closing the
/// connection: what arrives after a refused request cannot be trusted to start a new one. The close is a lingering
/// one: output first, so the client reads the answer to its end, while what it still sends is read and dropped for up
/// to `linger`; closing outright with its unread bytes queued would turn the client's read of the answer into
/// ECONNRESET.
enum ErrorAnswer {
    static let linger = TimeAmount.seconds(2)

    static func writeAndClose(_ error: DaemonError, context: ChannelHandlerContext) {
        let body = Self.body(error)
        let head = HTTPResponse(status: .init(code: error.status), headerFields: [
            .contentType: "application/json", .contentLength: "\(body.readableBytes)", .connection: "close",
        ])
        context.write(NIOAny(HTTPResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPResponsePart.body(body)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(HTTPResponsePart.end(nil))).assumeIsolated().whenComplete { _ in
            closeLingering(bound.value)
        }
    }

    /// Closes output now and the connection `linger` later (or when the client closes first).
    static func closeLingering(_ context: ChannelHandlerContext) {
        context.close(mode: .output, promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.assumeIsolated().scheduleTask(in: linger) { bound.value.close(promise: nil) }
    }

    static func body(_ error: DaemonError) -> ByteBuffer {
        (try? JSONResponse.body(error.body)) ?? ByteBuffer(string: "{}\n")
    }
}
