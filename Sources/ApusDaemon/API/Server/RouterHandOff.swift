import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Hands a connection to Hummingbird's router the first time one of its requests needs it: wraps the channel in an
/// NIOAsyncChannel (synchronously, on its event loop, with the request that needs it not yet passed on) and gives
/// it to the server's task that runs the router's connection loop. A connection that only ever asks the hot read
/// routes never gets one: no async channel, no task and no thread hop per connection.
struct RouterHandOff: Sendable {
    let connections: AsyncStream<HTTP1Channel.Value>.Continuation

    func handOff(_ channel: any Channel) throws {
        let wrapped = try HTTP1Channel.Value(wrappingChannelSynchronously: channel,
                                             configuration: .init(isOutboundHalfClosureEnabled: true))
        if case .terminated = connections.yield(wrapped) {
            // The server is gone (shutting down): nothing will answer this request.
            channel.close(promise: nil)
        }
    }
}
