/// Where a daemon listens and keeps its state, and what it does with running VMs when it stops.
public struct DaemonConfiguration: Sendable {
    public static let defaultSocketPath = "/run/apus/apusd.sock"
    public static let defaultStateDirectory = "/var/lib/apus"

    public var socketPath: String
    public var stateDirectory: String
    /// At shutdown, suspend active and paused VMs to disk (true) or stop them (false).
    public var suspendOnShutdown: Bool

    public init(socketPath: String = DaemonConfiguration.defaultSocketPath,
                stateDirectory: String = DaemonConfiguration.defaultStateDirectory,
                suspendOnShutdown: Bool = true) {
        self.socketPath = socketPath
        self.stateDirectory = stateDirectory
        self.suspendOnShutdown = suspendOnShutdown
    }
}
