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

    var all: [any Channel] { channels.withLock { Array($0.values) } }

    /// Closes every connection at once, answered or not (the server was cancelled rather than shut down).
    func closeAll() {
        for channel in all { channel.close(promise: nil) }
    }

    /// Asks every connection to close once its request in progress (if any) has been answered.
    func quiesceAll() {
        for channel in all {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}

/// Sits on the listening channel: stops accepting while `maximum` connections are open (new clients wait in the
/// listen backlog, costing the daemon nothing) and resumes as soon as one closes. When accept fails for want of
/// descriptors it stops accepting for `acceptPause` at a time: it turns the listening channel's autoRead off, which
/// takes the socket out of epoll. (NIO's AcceptBackoffHandler only delays read() calls, and after a failed accept
/// NIO makes none: the socket stays in epoll, readable, and accept fails again at once, thousands of times a
/// second.) The log says so once per episode (AcceptStarvation) and the metrics count every failed accept.
final class ConnectionLimiter: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    private let maximum: Int
    private let connections: OpenConnections
    private let metrics: DaemonMetrics?
    private let logger: Logger
    private var waitingForRoom = false
    private var starvation = AcceptStarvation()
    /// The end of the current pause after a failed accept.
    private var pause: Scheduled<Void>?

    static let acceptPause = TimeAmount.seconds(1)

    init(maximum: Int, connections: OpenConnections, metrics: DaemonMetrics?, logger: Logger) {
        self.maximum = maximum
        self.connections = connections
        self.metrics = metrics
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let open = connections.opened(child)
        if case .ended(let failures, let duration) = starvation.accepted(at: .now) {
            logger.notice("accepting client connections again (\(failures) accept\(failures == 1 ? "" : "s") failed for want of descriptors over \(Self.seconds(duration)) s)")
        }
        if open == maximum {
            logger.notice("\(open) client connections open, the limit (--max-connections); new ones wait until one closes")
        }
        let connections = self.connections
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        child.closeFuture.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
            connections.closed(child)
            let (handler, context) = handler.value
            if handler.waitingForRoom && handler.pause == nil {
                handler.resumeAccepting(context)
            }
        }
        context.fireChannelRead(data)
    }

    /// `duration` in seconds, to a tenth.
    static func seconds(_ duration: Duration) -> String {
        let tenths = duration.components.seconds * 10 + duration.components.attoseconds / 100_000_000_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
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
            metrics?.acceptFailed()
            if starvation.acceptFailed(at: .now) == .began {
                let reason = String(cString: strerror(error.errnoCode))
                logger.warning("cannot accept a client connection: \(reason) (\(connections.count) connections open); accepting pauses for a second at a time until descriptors are free")
            }
            pauseAccepting(context)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pause?.cancel()
        pause = nil
        context.fireChannelInactive()
    }

    private func pauseAccepting(_ context: ChannelHandlerContext) {
        guard pause == nil, let options = context.channel.syncOptions else { return }
        do {
            try options.setOption(ChannelOptions.autoRead, value: false)
        } catch {
            return
        }
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        pause = context.eventLoop.assumeIsolated().scheduleTask(in: Self.acceptPause) {
            let (handler, context) = bound.value
            handler.pause = nil
            handler.resumeAccepting(context)
        }
    }

    /// Accepts again, unless the connection limit holds accepting back (then the next close resumes it).
    private func resumeAccepting(_ context: ChannelHandlerContext) {
        guard connections.count < maximum else {
            waitingForRoom = true
            return
        }
        waitingForRoom = false
        if let options = context.channel.syncOptions, (try? options.getOption(ChannelOptions.autoRead)) == false {
            // Puts the socket back in epoll and reads (accepts) at once.
            try? options.setOption(ChannelOptions.autoRead, value: true)
        } else {
            context.read()
        }
    }
}
