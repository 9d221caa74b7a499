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

/// Serves the API on a listening socket systemd passed in (socket activation, `apusd.socket`): Hummingbird's
/// Application binds only by path, so this accepts on the inherited descriptor with NIO and hands each connection to
/// Hummingbird's HTTP/1 channel and the same router.
struct ActivatedSocketServer: Service {
    /// systemd's first passed descriptor (sd_listen_fds(3)).
    static let firstDescriptor: Int32 = 3

    let descriptor: Int32
    let responder: RouterResponder<DaemonRequestContext>
    let logger: Logger

    /// The descriptor systemd passed to this process, if any: LISTEN_PID names us and LISTEN_FDS is at least 1.
    static func inheritedDescriptor() -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1 else { return nil }
        // Children (none today) must not mistake the descriptors for their own.
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return firstDescriptor
    }

    func run() async throws {
        let responder = self.responder
        let logger = self.logger
        let channelSetup = HTTP1Channel(responder: { request, writer, channel in
            let context = DaemonRequestContext(source: .init(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.error("unhandled error on \(request.method) \(request.uri.path): \(error)")
                response = Response(status: .internalServerError)
            }
            try await writer.write(response: response.head, body: response.body)
        })
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(NIOBSDSocket.Handle(descriptor)) { channel in channelSetup.setup(channel: channel, logger: logger) }
        logger.info("apusd listening on the socket systemd passed (descriptor \(descriptor))")
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await channelSetup.handle(value: connection, logger: logger) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }
}
