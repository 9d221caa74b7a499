import ApusAPI
import ApusDaemon
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle

@main
struct ApusdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apusd",
        abstract: "The Apus daemon: runs many VMs and serves their lifecycle over HTTP on a Unix socket.",
        discussion: """
            VMs are defined, started, paused, resumed, suspended to disk and stopped through the REST API under /v1 \
            (docs/openapi.yaml), with `apus vm ...`, or with curl:

              apusd --socket /tmp/apus.sock --state-dir /tmp/apus-state &
              curl --unix-socket /tmp/apus.sock http://apus/v1/vms \\
                   -d '{"name": "demo", "boot": {"guest": "counter"}}'
              curl --unix-socket /tmp/apus.sock -X POST http://apus/v1/vms/demo/start

            Definitions and suspended VMs live in the state directory and survive restarts (and kill -9). Only one \
            apusd may use a state directory or a socket at a time. SIGTERM or SIGINT stops the daemon gracefully: \
            running VMs are suspended to disk (or stopped, with --on-shutdown stop) and resume later. \
            The socket is created with mode 0660; its group decides who may drive VMs.
            """,
        version: ApusVersion.current)

    enum ShutdownPolicy: String, ExpressibleByArgument, CaseIterable {
        case suspend, stop
    }

    @Option(help: "The Unix socket to listen on.")
    var socket: String = DaemonConfiguration.defaultSocketPath

    @Option(help: "Where VM definitions and suspended VMs are kept.")
    var stateDir: String = DaemonConfiguration.defaultStateDirectory

    @Option(help: "What happens to running VMs when apusd stops: suspend (to disk, resumable) or stop.")
    var onShutdown: ShutdownPolicy = .suspend

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "apusd")
        let daemon: Daemon
        do {
            daemon = try Daemon(
                configuration: DaemonConfiguration(socketPath: absolute(socket), stateDirectory: absolute(stateDir),
                                                   suspendOnShutdown: onShutdown == .suspend),
                logger: logger)
        } catch {
            FileHandle.standardError.write(Data("apusd: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let group = ServiceGroup(configuration: .init(services: daemon.services,
                                                      gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        do {
            try await group.run()
        } catch {
            FileHandle.standardError.write(Data("apusd: \(error)\n".utf8))
            throw ExitCode(1)
        }
        logger.info("apusd stopped")
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
