#if canImport(Glibc)
import Glibc
#endif

/// The system calls a worker makes once its machine is built, by x86-64 number: found by running every built-in guest
/// on both backends and a Linux boot through start, pause, resume, console, suspend, resume and stop under
/// `strace -f`, plus their near relatives (the *at and vector forms, clocks) that the C library may pick instead.
/// Building the machine (opening /dev/kvm, reading boot files or a saved state) happens before the filter.
enum WorkerSystemCalls {
    static let allowed: [String: Int32] = [
        // Descriptors and files (the console channel, disk images, writing a suspended state).
        "read": 0, "write": 1, "readv": 19, "writev": 20, "pread64": 17, "pwrite64": 18, "preadv": 295,
        "pwritev": 296, "preadv2": 327, "pwritev2": 328, "lseek": 8, "close": 3, "dup": 32, "dup3": 292,
        "fcntl": 72, "openat": 257, "newfstatat": 262, "fstat": 5, "statx": 332, "readlink": 89, "readlinkat": 267,
        "getdents64": 217, "access": 21, "faccessat": 269, "faccessat2": 439, "getcwd": 79, "mkdir": 83,
        "mkdirat": 258, "rename": 82, "renameat": 264, "renameat2": 316, "unlink": 87, "unlinkat": 263,
        "ftruncate": 77, "fsync": 74, "fdatasync": 75, "fallocate": 285, "fstatfs": 138, "statfs": 137,
        // Memory.
        "mmap": 9, "munmap": 11, "mprotect": 10, "mremap": 25, "madvise": 28, "brk": 12, "membarrier": 324,
        // Threads and signals (the vCPU kick is a signal to one of the worker's own threads).
        "futex": 202, "set_robust_list": 273, "get_robust_list": 274, "rseq": 334, "set_tid_address": 218,
        "gettid": 186, "getpid": 39, "getppid": 110, "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15,
        "rt_sigsuspend": 130, "rt_sigtimedwait": 128, "sigaltstack": 131, "restart_syscall": 219,
        "sched_yield": 24, "sched_getaffinity": 204, "getpriority": 140,
        // Time.
        "clock_gettime": 228, "clock_getres": 229, "clock_nanosleep": 230, "nanosleep": 35, "gettimeofday": 96,
        "time": 201,
        // Host facts the runtime asks for.
        "getrusage": 98, "getrlimit": 97, "uname": 63, "sysinfo": 99, "getuid": 102, "geteuid": 107,
        "getgid": 104, "getegid": 108, "getrandom": 318,
        // The channel to the daemon (an already connected socketpair: no socket, connect or accept).
        "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "shutdown": 48,
        // Waiting (Dispatch, timers of the run control).
        "poll": 7, "ppoll": 271, "epoll_create1": 291, "epoll_ctl": 233, "epoll_wait": 232, "epoll_pwait": 281,
        "eventfd2": 290, "timerfd_create": 283, "timerfd_settime": 286, "timerfd_gettime": 287,
        // KVM and thread names.
        "ioctl": 16, "prctl": 157,
        "exit": 60, "exit_group": 231,
    ]

    /// Calls that could reach other processes of the same user, allowed only on the worker itself.
    static func restricted(ownPid: pid_t) -> [SeccompFilter.Restriction] {
        [
            // tgkill(tgid, tid, signal): the vCPU kick, to this process's threads only (never the daemon).
            SeccompFilter.Restriction(number: 234, argument: 0, value: UInt64(UInt32(bitPattern: ownPid))),
            // prlimit64(pid, ...): this process only (pid 0).
            SeccompFilter.Restriction(number: 302, argument: 0, value: 0),
            // setpriority(which, who, nice): the calling thread only (who 0); Dispatch sets its threads' priorities.
            SeccompFilter.Restriction(number: 141, argument: 1, value: 0),
        ]
    }

    static func filter(ownPid: pid_t = getpid()) -> SeccompFilter {
        SeccompFilter(allowed: allowed.values.sorted(), restricted: restricted(ownPid: ownPid))
    }
}
