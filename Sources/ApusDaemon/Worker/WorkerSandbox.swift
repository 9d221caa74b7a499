import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a worker does to itself before it builds the machine: no privilege gained through exec (PR_SET_NO_NEW_PRIVS,
/// which also lets an unprivileged process install a seccomp filter), no core dumps of guest memory, few descriptors,
/// and a data limit sized to the VM, so a runaway worker fails its own allocations instead of starving the host.
enum WorkerSandbox {
    /// Beyond guest RAM: the runtime, vCPU threads' heaps, device buffers and a snapshot's staging.
    static let dataHeadroomMiB = 1024
    /// Descriptors a worker may hold beyond those it was handed (each handed-over disk file is duplicated once
    /// more by the disk image that uses it).
    static let baseDescriptorLimit: rlim_t = 128

    static func descriptorLimit(handedOver: Int) -> rlim_t { baseDescriptorLimit + 2 * rlim_t(max(handedOver, 0)) }

    /// Applies every measure it can; returns what could not be applied, for the log.
    static func apply(guestMemoryMiB: Int, handedOverDescriptors: Int = 0) -> [String] {
        let descriptorLimit = descriptorLimit(handedOver: handedOverDescriptors)
        var problems: [String] = []
        if apus_set_no_new_privs() != 0 {
            problems.append("PR_SET_NO_NEW_PRIVS: \(String(cString: strerror(errno)))")
        }
        let dataBytes = rlim_t(max(guestMemoryMiB, 0) + dataHeadroomMiB) << 20
        for (resource, value, name) in [(Int32(RLIMIT_CORE.rawValue), rlim_t(0), "RLIMIT_CORE"),
                                        (Int32(RLIMIT_NOFILE.rawValue), descriptorLimit, "RLIMIT_NOFILE"),
                                        (Int32(RLIMIT_DATA.rawValue), dataBytes, "RLIMIT_DATA")] {
            if let problem = lower(resource, to: value) { problems.append("\(name): \(problem)") }
        }
        return problems
    }

    /// Lowers soft and hard limit (never raises one that is already lower).
    private static func lower(_ resource: Int32, to value: rlim_t) -> String? {
        var current = rlimit()
        guard getrlimit(resource, &current) == 0 else { return String(cString: strerror(errno)) }
        var wanted = rlimit(rlim_cur: min(current.rlim_cur, value), rlim_max: min(current.rlim_max, value))
        guard setrlimit(resource, &wanted) == 0 else { return String(cString: strerror(errno)) }
        return nil
    }
}
