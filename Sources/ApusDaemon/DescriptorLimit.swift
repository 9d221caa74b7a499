#if canImport(Glibc)
import Glibc
#endif

/// RLIMIT_NOFILE: apusd raises its soft limit to the hard one (systemd's LimitNOFILE) at start, and keeps client
/// connections below it with room to spare for VMs (each holds /dev/kvm, vCPU and image descriptors) and the state
/// directory, so a flood of clients can never take the descriptors a VM operation needs.
public enum DescriptorLimit {
    /// Descriptors kept out of the connection limit's reach.
    static let reserve = 256

    /// Raises the soft limit to the hard limit; returns the soft limit in force afterwards.
    @discardableResult
    public static func raiseSoftLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    static var softLimit: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// The connection limit that fits under the current descriptor limit.
    static func connections(wanted: Int) -> Int {
        max(1, min(wanted, softLimit - reserve))
    }
}
