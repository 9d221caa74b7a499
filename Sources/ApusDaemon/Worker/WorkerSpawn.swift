import ApusCore
import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts a worker process: `<executable> worker`, its stdin /dev/null, stdout and stderr the daemon's (the journal),
/// the channel as descriptor 3 and the boot files from 4 on. Nothing else crosses: every other descriptor is closed
/// in the child (and the worker closes any that slipped through before it does anything).
enum WorkerSpawn {
    static func spawn(executable: String, channel: Int32, files: [Int32], environment: [String]) throws -> pid_t {
        // Move every source above the targets first, so that no dup2 overwrites a source a later one still needs.
        let sources = try ([channel] + files).map { descriptor -> Int32 in
            let moved = fcntl(descriptor, F_DUPFD_CLOEXEC, 64)
            guard moved >= 0 else { throw DaemonError.internal("cannot pass a descriptor to a worker: \(String(cString: strerror(errno)))") }
            return moved
        }
        defer { for source in sources { close(source) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (index, source) in sources.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, source, WorkerProtocol.channelDescriptor + Int32(index))
        }
        apus_spawn_close_from(&actions, WorkerProtocol.channelDescriptor + Int32(sources.count))

        // Its own process group, so a Ctrl-C at apusd's terminal reaches apusd (which suspends the VMs) and not the
        // workers; default signal handling and no blocked signals, whatever the daemon set up for itself.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        var noneBlocked = sigset_t()
        sigemptyset(&noneBlocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &noneBlocked)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let arguments = [executable, "worker"]
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, &argv, &envp)
        guard result == 0 else {
            throw DaemonError.internal("cannot start a worker process (\(executable)): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// "signal 9" or "status 3", from waitpid's status.
    static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "status \((status >> 8) & 0xff)" }
        return "signal \(signal)"
    }
}
