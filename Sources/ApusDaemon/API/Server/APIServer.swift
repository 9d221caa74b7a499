import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The API's HTTP/1.1 server on a Unix socket: bound at a path, or on the descriptor systemd passed (socket
/// activation). Built on NIO directly rather than Hummingbird's Application so that the listening channel carries
/// the daemon's limits — at most `maximumConnections` clients, accept backoff with a log line when descriptors run
/// out — and each connection an idle timeout, a request-body deadline and JSON answers to unparsable requests.
struct APIServer: Service {
    enum Listener: Sendable {
        case path(String)
        case descriptor(Int32)
    }

    let listener: Listener
    let responder: RouterResponder<DaemonRequestContext>
    let hotReads: HotReadRoutes
    let configuration: DaemonConfiguration
    let logger: Logger
    /// Runs once the socket listens (the path-bound socket's mode is set there).
    var onListening: @Sendable () -> Void = {}

    func run() async throws {
        let responder = self.responder
        let logger = self.logger
        let requestTimeout = TimeAmount(configuration.requestTimeout)
        let routerLoop = HTTP1Channel(
            responder: { request, writer, channel in
                let context = DaemonRequestContext(source: .init(channel: channel, logger: logger))
                let response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch {
                    logger.error("unhandled error on \(request.method) \(request.uri.path): \(error)")
                    response = try ErrorMiddleware.response(for: .internal("\(error)"))
                }
                try await writer.write(response: response.head, body: response.body)
            })
        // Connections whose requests need the router, as they come to need it (most never do).
        let (routed, handOff) = AsyncStream.makeStream(of: HTTP1Channel.Value.self)
        let pipeline = APIChannelSetup(requestTimeout: requestTimeout, idleTimeout: TimeAmount(configuration.idleTimeout),
                                       hotReads: hotReads, router: RouterHandOff(connections: handOff), logger: logger)

        let connections = OpenConnections()
        let maximum = configuration.maximumConnections
        let metrics = hotReads.metrics
        // One event loop accepts and serves every connection: a connection handed to another loop's thread costs a
        // wake-up of that thread before its first byte is read, most of a short request's time on a loaded host.
        // Only hot reads and parsing run there; routes run on Swift concurrency's threads.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let bootstrap = ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture(withResultOf: {
                    // It also pauses accepting when descriptors run out (instead of NIO's AcceptBackoffHandler).
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionLimiter(maximum: maximum, connections: connections, metrics: metrics, logger: logger))
                })
            }
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in pipeline.setup(channel: channel) }
        let server: any Channel
        switch listener {
        case .path(let path):
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            logger.info("apusd listening on \(path)")
        case .descriptor(let descriptor):
            server = try await bootstrap.withBoundSocket(NIOBSDSocket.Handle(descriptor)).get()
            logger.info("apusd listening on the socket systemd passed (descriptor \(descriptor))")
        }
        onListening()
        let stop: @Sendable () -> Void = {
            server.close(promise: nil)
            // Idle connections close now, busy ones once their response is written; streams end on their own
            // graceful-shutdown handlers.
            connections.quiesceAll()
        }
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                await withDiscardingTaskGroup { group in
                    group.addTask {
                        // No connection can come to need the router once the socket is closed and every connection
                        // it accepted has closed.
                        try? await server.closeFuture.get()
                        for channel in connections.all { try? await channel.closeFuture.get() }
                        handOff.finish()
                    }
                    for await connection in routed {
                        group.addTask { await routerLoop.handle(value: connection, logger: logger) }
                    }
                }
            } onCancel: {
                // Cancelled rather than shut down gracefully: nothing waits for answers in progress.
                server.close(promise: nil)
                connections.closeAll()
            }
        } onGracefulShutdown: {
            stop()
        }
    }
}

