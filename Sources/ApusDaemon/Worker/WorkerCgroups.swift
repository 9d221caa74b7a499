import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Each worker in its own cgroup v2 child of apusd's, where systemd delegated apusd's cgroup to it (`Delegate=yes`;
/// the daemon then moves itself into the leaf `daemon`, since only leaves may hold processes): memory.max caps the worker at its
/// guest RAM plus headroom, and cpu.weight below the daemon's keeps the API answering while guests spin. Detected at
/// start; where there is no delegated cgroup v2 (a hybrid or v1 host, no systemd, no Delegate) workers share the
/// daemon's cgroup and `unavailableReason` says why.
struct WorkerCgroups: Sendable {
    /// The delegated cgroup's directory (the parent of the daemon's leaf and of the workers'), or nil.
    let parent: String?
    let unavailableReason: String?
    static let workerCPUWeight = 50
    static let daemonCPUWeight = 200

    /// `mountPoint` and `membershipFile` are parameters so that tests can point them at a directory tree of their own.
    static func detect(mountPoint: String = "/sys/fs/cgroup",
                       membershipFile: String = "/proc/self/cgroup") -> WorkerCgroups {
        func unavailable(_ reason: String) -> WorkerCgroups { WorkerCgroups(parent: nil, unavailableReason: reason) }
        let membership = (try? String(contentsOfFile: membershipFile, encoding: .utf8)) ?? ""
        guard let line = membership.split(separator: "\n").first(where: { $0.hasPrefix("0::") }),
              FileManager.default.fileExists(atPath: mountPoint + "/cgroup.controllers") else {
            return unavailable("the host has no cgroup v2 hierarchy at \(mountPoint) (cgroup v1 or hybrid)")
        }
        let own = mountPoint + String(line.dropFirst(3))
        let inLeaf = own.hasSuffix("/" + daemonLeaf)
        let delegated = inLeaf ? (own as NSString).deletingLastPathComponent : own
        // systemd marks a cgroup it delegates (Delegate=yes) with this attribute; never take over one it did not.
        guard isMarkedDelegated(delegated) else {
            return unavailable("apusd's cgroup \(delegated) was not delegated to it by systemd (Delegate=yes in the unit)")
        }
        let controllers = (try? String(contentsOfFile: delegated + "/cgroup.controllers", encoding: .utf8)) ?? ""
        guard controllers.contains("memory"), controllers.contains("cpu") else {
            return unavailable("the memory and cpu controllers are not delegated to \(delegated)")
        }
        // A cgroup with processes cannot enable controllers for its children: the daemon moves to a leaf of its own.
        if !inLeaf {
            let leaf = delegated + "/" + daemonLeaf
            guard mkdir(leaf, 0o755) == 0 || errno == EEXIST, write("\(getpid())", to: leaf + "/cgroup.procs") else {
                return unavailable("cannot move apusd into \(leaf): \(String(cString: strerror(errno)))")
            }
        }
        guard write("+memory +cpu", to: delegated + "/cgroup.subtree_control") else {
            return unavailable("cannot enable memory and cpu for children of \(delegated): \(String(cString: strerror(errno)))")
        }
        write("\(daemonCPUWeight)", to: delegated + "/" + daemonLeaf + "/cpu.weight")
        return WorkerCgroups(parent: delegated, unavailableReason: nil)
    }

    static let daemonLeaf = "daemon"

    private static func isMarkedDelegated(_ directory: String) -> Bool {
        ["trusted.delegate", "user.delegate"].contains { name in
            var value: UInt8 = 0
            return getxattr(directory, name, &value, 1) == 1 && value == UInt8(ascii: "1")
        }
    }

    /// Moves a just-started worker (which waits for its start frame, holding no guest memory yet) into a cgroup of
    /// its own; returns the cgroup to remove once the worker is reaped, or nil when it stays in the daemon's.
    func place(_ pid: pid_t, vm: String, guestMemoryMiB: Int) -> String? {
        guard let parent else { return nil }
        let directory = parent + "/vm-\(vm)-\(pid)"
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else { return nil }
        let limit = UInt64(max(guestMemoryMiB, 0) + WorkerSandbox.dataHeadroomMiB) << 20
        Self.write("\(limit)", to: directory + "/memory.max")
        Self.write("\(Self.workerCPUWeight)", to: directory + "/cpu.weight")
        guard Self.write("\(pid)", to: directory + "/cgroup.procs") else {
            rmdir(directory)
            return nil
        }
        return directory
    }

    /// Removes a reaped worker's cgroup. The kernel may still count the just-reaped process in it for a moment
    /// (EBUSY), hence a few short retries; returns why it could not be removed, or nil once it is gone.
    static func remove(_ directory: String) -> String? {
        for _ in 0..<20 {
            if rmdir(directory) == 0 || errno == ENOENT { return nil }
            guard errno == EBUSY else { break }
            usleep(10_000)
        }
        return String(cString: strerror(errno))
    }

    @discardableResult
    static func write(_ text: String, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }
}
