import ApusAPI
import Foundation
import Hummingbird
public import Logging
public import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// apusd: many VMs, one process. Owns the state directory (locked), the registry of VMs, and the HTTP API on a Unix
/// socket; `services` plug into a ServiceGroup that stops everything gracefully on SIGTERM.
public final class Daemon {
    public let configuration: DaemonConfiguration
    private let locks: [DirectoryLock]
    private let registry: VMRegistry
    private let metrics = DaemonMetrics()
    private let logger: Logger
    /// Routes as registered, for the test that compares them with docs/openapi.yaml.
    public let routes: [(method: String, path: String)]
    private let router: Router<DaemonRequestContext>
    private let hotReads: HotReadRoutes

    /// Takes the locks and brings back the VMs on disk; nothing listens until the services run.
    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        var configuration = configuration
        let connections = DescriptorLimit.connections(wanted: configuration.maximumConnections)
        if connections < configuration.maximumConnections {
            logger.warning("serving at most \(connections) connections, not \(configuration.maximumConnections): the descriptor limit is \(DescriptorLimit.softLimit) (raise LimitNOFILE)")
            configuration.maximumConnections = connections
        }
        self.configuration = configuration
        self.logger = logger
        let store = try StateDirectory(root: configuration.stateDirectory)
        try Self.prepareSocketDirectory(configuration.socketPath)
        locks = [
            try DirectoryLock(path: store.lockPath, purpose: "state directory \(store.root)"),
            try DirectoryLock(path: configuration.socketPath + ".lock", purpose: "socket \(configuration.socketPath)"),
        ]
        let imageRoots = try ImageRoots(
            configuration.imageRoots.isEmpty ? [configuration.defaultImageRoot] : configuration.imageRoots,
            creating: configuration.imageRoots.isEmpty ? configuration.defaultImageRoot : nil,
            stateDirectory: store.root)
        let boot = BootPreparation(imageRoots: imageRoots, clonesDirectory: store.clonesDirectory)
        var launcher: any MachineLauncher = InProcessMachines(boot: boot)
        if let executable = configuration.workerExecutable {
            let cgroups = WorkerCgroups.detect()
            if let reason = cgroups.unavailableReason {
                logger.notice("workers share apusd's cgroup (no memory.max or cpu.weight of their own): \(reason)")
            } else {
                logger.info("each worker gets a cgroup under \(cgroups.parent ?? "?") (memory.max, cpu.weight \(WorkerCgroups.workerCPUWeight))")
            }
            launcher = WorkerMachines(boot: boot, executable: executable, cgroups: cgroups, logger: logger)
        }
        registry = VMRegistry(store: store, events: EventLog(), boot: boot,
                              budget: MemoryBudget(limitMiB: configuration.memoryBudgetMiB), launcher: launcher,
                              logger: logger)
        logger.info("VMs run \(configuration.workerExecutable == nil ? "inside apusd (no isolation)" : "each in a worker process")")
        logger.info("image roots: \(imageRoots.directories.joined(separator: ", ")); memory budget: \(configuration.memoryBudgetMiB.map { "\($0) MiB" } ?? "none (overcommit)")")
        registry.recover()

        let router = Router(context: DaemonRequestContext.self)
        router.add(middleware: LatencyMiddleware(metrics: metrics))
        let table = APIRoutes(router: router)
        router.add(middleware: ErrorMiddleware(routes: table.table))
        let audit = AuditLog(logger: logger)
        VMRoutes(registry: registry, audit: audit).register(on: table)
        ActionRoutes(registry: registry, audit: audit).register(on: table)
        CloneRoutes(registry: registry, audit: audit).register(on: table)
        ConsoleRoutes(registry: registry).register(on: table)
        EventRoutes(events: registry.events).register(on: table)
        HostRoutes(registry: registry, metrics: metrics, stateDirectory: store.root).register(on: table)
        routes = table.registered
        self.router = router
        hotReads = HotReadRoutes(registry: registry, metrics: metrics)
    }

    /// The HTTP server (on the socket systemd passed, when socket-activated, else bound at the configured path), and
    /// the fleet of VMs, which is shut down after the server: running VMs are suspended (or
    /// stopped) once no request can reach them any more.
    public var services: [any Service] {
        let socketPath = configuration.socketPath
        let logger = self.logger
        // Everything the daemon creates is private by default; the socket is then opened up to 0660 (the owner and
        // its group, e.g. "apus", may drive VMs) once it exists. It is never more open than that, even briefly.
        umask(0o077)
        let fleet = FleetService(registry: registry, suspend: configuration.suspendOnShutdown, logger: logger)
        let listener: APIServer.Listener = SocketActivation.inheritedDescriptor().map { .descriptor($0) } ?? .path(socketPath)
        var server = APIServer(listener: listener, responder: router.buildResponder(), hotReads: hotReads,
                               configuration: configuration, logger: logger)
        if case .path = listener {
            server.onListening = { chmod(socketPath, 0o660) }
        }
        return [fleet, server]
    }

    /// Creates the socket's directory if needed and refuses to replace anything at the socket path that is not a
    /// socket (Hummingbird unlinks the path before binding).
    private static func prepareSocketDirectory(_ socketPath: String) throws {
        guard socketPath.utf8.count < 108 else {
            throw DaemonError.badRequest("the socket path is longer than the 107 bytes a Unix socket address holds: \(socketPath)")
        }
        let directory = (socketPath as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw DaemonError.internal("cannot create socket directory \(directory): \(error.localizedDescription)")
            }
        }
        var status = stat()
        if lstat(socketPath, &status) == 0 && (status.st_mode & S_IFMT) != S_IFSOCK {
            throw DaemonError.badRequest("\(socketPath) exists and is not a socket; refusing to replace it")
        }
    }
}

/// Holds the VMs for the daemon's lifetime; on graceful shutdown suspends (or stops) every running VM and ends
/// the event streams.
struct FleetService: Service {
    let registry: VMRegistry
    let suspend: Bool
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let running = registry.all.filter { $0.state == .active || $0.state == .paused }
        if !running.isEmpty {
            logger.info("\(suspend ? "suspending" : "stopping") \(running.count) running VM\(running.count == 1 ? "" : "s")")
        }
        await registry.shutDown(suspending: suspend)
    }
}
