import Logging
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The connections a server has open, shared between its accept handler and its graceful shutdown.
final class OpenConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    var count: Int { channels.withLock { $0.count } }

    func opened(_ channel: any Channel) -> Int {
        channels.withLock { channels in
            channels[ObjectIdentifier(channel)] = channel
            return channels.count
        }
    }

    func closed(_ channel: any Channel) {
        _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Asks every connection to close once its request in progress (if any) has been answered.
    func quiesceAll() {
        for channel in channels.withLock({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}

/// Sits on the listening channel: stops accepting while `maximum` connections are open (new clients wait in the
/// listen backlog, costing the daemon nothing) and resumes as soon as one closes. It also reports running out of
/// descriptors: NIO's accept backoff (next in the pipeline) then pauses accepting for a second instead of retrying
/// in a busy loop; the log line says so, at most once every ten seconds.
final class ConnectionLimiter: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    private let maximum: Int
    private let connections: OpenConnections
    private let logger: Logger
    private var waitingForRoom = false
    private var lastDescriptorWarning: ContinuousClock.Instant?

    init(maximum: Int, connections: OpenConnections, logger: Logger) {
        self.maximum = maximum
        self.connections = connections
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let open = connections.opened(child)
        if open == maximum {
            logger.notice("\(open) client connections open, the limit (--max-connections); new ones wait until one closes")
        }
        let connections = self.connections
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        child.closeFuture.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
            connections.closed(child)
            let (handler, context) = handler.value
            if handler.waitingForRoom && connections.count < handler.maximum {
                handler.waitingForRoom = false
                context.read()
            }
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard connections.count < maximum else {
            waitingForRoom = true
            return
        }
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) {
            let now = ContinuousClock.now
            if lastDescriptorWarning.map({ now - $0 > .seconds(10) }) ?? true {
                lastDescriptorWarning = now
                let reason = String(cString: strerror(error.errnoCode))
                logger.warning("cannot accept a client connection: \(reason) (\(connections.count) connections open); accepting pauses for a second")
            }
        }
        context.fireErrorCaught(error)
    }
}
