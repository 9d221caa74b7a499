public import Foundation

/// A network namespace a test creates for one run (loopback only, so nothing reaches the host's own network) and
/// deletes afterwards, with the TAPs it adopts: the host's end of a guest's link lives there.
public struct ThrowawayNetworkNamespace: Sendable {
    public enum SetupError: Error, CustomStringConvertible {
        case command(String, output: String)
        public var description: String {
            switch self {
            case .command(let command, let output): return "ip \(command) failed: \(output)"
            }
        }
    }

    public let name: String
    /// The `ip` tool (iproute2) used for everything.
    public let ip: String

    /// Creates the namespace `<prefix>-<pid>` with its loopback up, or prints why `suite` skips and returns nil: not
    /// root, no /dev/net/tun, no iproute2, or a host that refuses new network namespaces.
    public static func create(prefix: String, for suite: String) throws -> ThrowawayNetworkNamespace? {
        guard let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first(where: FileManager.default.isExecutableFile),
              getuid() == 0, FileManager.default.fileExists(atPath: "/dev/net/tun") else {
            print("\(suite): skipping: this needs root, /dev/net/tun and ip (iproute2)")
            return nil
        }
        let name = "\(prefix)-\(getpid())"
        let created = try CommandRunner.runTool(ip, ["netns", "add", name])
        guard created.status == 0 else {
            print("\(suite): skipping: this host does not let the test create a network namespace: \(created.output)")
            return nil
        }
        let namespace = ThrowawayNetworkNamespace(name: name, ip: ip)
        do {
            try namespace.runIP(["-n", name, "link", "set", "lo", "up"])
        } catch {
            namespace.delete()
            throw error
        }
        return namespace
    }

    /// Moves the host's TAP `tap` into the namespace and gives it `address` (CIDR), up.
    public func adopt(tap: String, address: String) throws {
        try runIP(["link", "set", tap, "netns", name])
        try runIP(["-n", name, "addr", "add", address, "dev", tap])
        try runIP(["-n", name, "link", "set", tap, "up"])
    }

    /// The command line that runs `executable` inside the namespace (for `Process`): `ip netns exec NAME ...`.
    public func command(_ executable: String, _ arguments: [String]) -> (executable: String, arguments: [String]) {
        (ip, ["netns", "exec", name, executable] + arguments)
    }

    /// Deletes the namespace and the TAPs in it; call it from a `defer` right after creating.
    public func delete() { _ = try? CommandRunner.runTool(ip, ["netns", "delete", name]) }

    private func runIP(_ arguments: [String]) throws {
        let result = try CommandRunner.runTool(ip, arguments)
        guard result.status == 0 else {
            throw SetupError.command(arguments.joined(separator: " "), output: result.output)
        }
    }
}
