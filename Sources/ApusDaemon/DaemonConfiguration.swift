/// Where a daemon listens and keeps its state, which files VMs may boot from, how much guest memory it may commit,
/// how many clients it serves at once, and what it does with running VMs when it stops.
public struct DaemonConfiguration: Sendable {
    public static let defaultSocketPath = "/run/apus/apusd.sock"
    public static let defaultStateDirectory = "/var/lib/apus"
    public static let defaultMaximumConnections = 512
    public static let defaultIdleTimeout: Duration = .seconds(60)
    public static let defaultRequestTimeout: Duration = .seconds(30)

    public var socketPath: String
    public var stateDirectory: String
    /// At shutdown, suspend active and paused VMs to disk (true) or stop them (false).
    public var suspendOnShutdown: Bool
    /// Directories boot files (image, kernel, initrd) may come from; empty means `defaultImageRoot` only.
    public var imageRoots: [String]
    /// The most guest memory running VMs may hold together, in MiB; nil turns admission control off (overcommit).
    public var memoryBudgetMiB: Int?
    /// Clients served at once; further connections wait in the listen backlog until one closes.
    public var maximumConnections: Int
    /// A connection with no request in progress for this long is closed.
    public var idleTimeout: Duration
    /// A request whose body has not arrived in full this long after its head is abandoned and its connection closed.
    public var requestTimeout: Duration
    /// The executable run as `<path> worker` for each running VM (apusd's own); nil runs VMs in the daemon's process.
    public var workerExecutable: String?

    public init(socketPath: String = DaemonConfiguration.defaultSocketPath,
                stateDirectory: String = DaemonConfiguration.defaultStateDirectory,
                suspendOnShutdown: Bool = true,
                imageRoots: [String] = [],
                memoryBudgetMiB: Int? = nil,
                maximumConnections: Int = DaemonConfiguration.defaultMaximumConnections,
                idleTimeout: Duration = DaemonConfiguration.defaultIdleTimeout,
                requestTimeout: Duration = DaemonConfiguration.defaultRequestTimeout) {
        self.socketPath = socketPath
        self.stateDirectory = stateDirectory
        self.suspendOnShutdown = suspendOnShutdown
        self.imageRoots = imageRoots
        self.memoryBudgetMiB = memoryBudgetMiB
        self.maximumConnections = maximumConnections
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }

    /// `<state directory>/images`, created 0700 when no root is configured.
    public var defaultImageRoot: String { stateDirectory + "/images" }

    /// The host's memory less a reserve for the host itself (nil when /proc/meminfo cannot be read).
    public static var defaultMemoryBudgetMiB: Int? { MemoryBudget.defaultLimitMiB() }
}
