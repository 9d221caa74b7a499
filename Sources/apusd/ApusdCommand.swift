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
                   -H 'Content-Type: application/json' \\
                   -d '{"name": "demo", "boot": {"guest": "counter"}}'
              curl --unix-socket /tmp/apus.sock -X POST http://apus/v1/vms/demo/start

            Definitions and suspended VMs live in the state directory and survive restarts (and kill -9). Only one \
            apusd may use a state directory or a socket at a time. SIGTERM or SIGINT stops the daemon gracefully: \
            running VMs are suspended to disk (or stopped, with --on-shutdown stop) and resume later. \
            The socket is created with mode 0660; its group decides who may drive VMs.

            Boot files (--image, --kernel, --initrd of a definition) are opened only from image roots: by default \
            <state-dir>/images (created 0700), or the directories given with --image-root (repeatable). Copy or \
            link images into a root as the administrator, e.g.

              install -m 0644 vmlinuz initrd.img /var/lib/apus/images/

            and define VMs with those paths. A path is resolved once (symbolic links followed) and must lie inside \
            a root; only regular files no larger than the VM's memory are accepted, so clients cannot make apusd read \
            other files, devices or FIFOs.

            Running VMs together may hold at most --memory-budget MiB of guest memory (default: the host's memory \
            less an eighth, at least 1 GiB, kept for the host); a start beyond it answers 507 with what is committed. \
            --memory-overcommit turns that check off.
            """,
        version: ApusVersion.current,
        subcommands: [WorkerCommand.self])

    enum ShutdownPolicy: String, ExpressibleByArgument, CaseIterable {
        case suspend, stop
    }

    @Option(help: "The Unix socket to listen on.")
    var socket: String = DaemonConfiguration.defaultSocketPath

    @Option(help: "Where VM definitions and suspended VMs are kept.")
    var stateDir: String = DaemonConfiguration.defaultStateDirectory

    @Option(help: "What happens to running VMs when apusd stops: suspend (to disk, resumable) or stop.")
    var onShutdown: ShutdownPolicy = .suspend

    @Option(name: .customLong("image-root"),
            help: ArgumentHelp("A directory VMs may boot files from (repeatable; default: <state-dir>/images).",
                               valueName: "dir"))
    var imageRoots: [String] = []

    @Option(help: ArgumentHelp("The most guest memory running VMs may hold together (default: host memory less a reserve).",
                               valueName: "MiB"))
    var memoryBudget: Int?

    @Flag(help: "Start VMs whatever memory they need (no admission control).")
    var memoryOvercommit = false

    @Option(help: "The most client connections served at once; more wait in the listen backlog.")
    var maxConnections: Int = DaemonConfiguration.defaultMaximumConnections

    @Option(help: ArgumentHelp("Close a connection with no request in progress after this long.", valueName: "seconds"))
    var idleTimeout: Double = 60

    @Option(help: ArgumentHelp("Close a connection whose request body has not arrived this long after its head.",
                               valueName: "seconds"))
    var requestTimeout: Double = 30

    enum Isolation: String, ExpressibleByArgument, CaseIterable {
        case worker, none
    }

    @Option(help: "Where VMs run: worker (one sandboxed process per running VM) or none (threads of apusd itself).")
    var isolation: Isolation = .worker

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        if let memoryBudget, memoryBudget < 1 { throw ValidationError("--memory-budget must be at least 1 MiB") }
        if memoryOvercommit && memoryBudget != nil {
            throw ValidationError("--memory-budget and --memory-overcommit exclude each other")
        }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard idleTimeout > 0, requestTimeout > 0 else { throw ValidationError("timeouts must be positive") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "apusd")
        DescriptorLimit.raiseSoftLimit()
        let daemon: Daemon
        do {
            var configuration = DaemonConfiguration(
                    socketPath: absolute(socket), stateDirectory: absolute(stateDir),
                    suspendOnShutdown: onShutdown == .suspend,
                    imageRoots: imageRoots.map(absolute),
                    memoryBudgetMiB: memoryOvercommit ? nil : (memoryBudget ?? DaemonConfiguration.defaultMemoryBudgetMiB),
                    maximumConnections: maxConnections,
                    idleTimeout: .milliseconds(Int64(idleTimeout * 1000)),
                    requestTimeout: .milliseconds(Int64(requestTimeout * 1000)))
            if isolation == .worker { configuration.workerExecutable = try Self.ownExecutable() }
            daemon = try Daemon(configuration: configuration, logger: logger)
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

    /// The running executable, which workers run too (`apusd worker`).
    private static func ownExecutable() throws -> String {
        let path = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        guard !path.hasSuffix(" (deleted)") else {
            throw ValidationError("the apusd executable was replaced or deleted since it started; restart apusd")
        }
        return path
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}


/// `apusd worker`: the process one VM runs in, started by apusd itself (never by hand).
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Runs one VM for apusd over the socketpair on descriptor 3 (internal).",
        shouldDisplay: false)

    @Flag(help: .hidden)
    var sandboxSelfTest = false

    func run() throws {
        if sandboxSelfTest { throw ExitCode(SandboxSelfTest.run()) }
        VMWorker.run()
    }
}
