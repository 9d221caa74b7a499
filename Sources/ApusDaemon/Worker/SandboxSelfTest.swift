import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `apusd worker --sandbox-self-test`: locks this process down exactly as a worker is locked down, then tries calls
/// a worker must be refused and some it must be allowed, printing one line each ("<call>: refused (<error>)" or
/// "<call>: allowed"). The tests run it to see that the filter really holds on this kernel.
public enum SandboxSelfTest {
    public static func run() -> Int32 {
        let problems = WorkerSandbox.apply(guestMemoryMiB: 64)
        for problem in problems { print("sandbox: \(problem)") }
        do {
            try WorkerSystemCalls.filter().install()
        } catch {
            print("seccomp: not installed: \(error)")
            return 1
        }
        let parent = getppid()
        let checks: [(String, () -> Int)] = [
            ("socket(AF_INET)", { Int(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)) }),
            ("socket(AF_UNIX)", { Int(socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)) }),
            ("execve(/bin/true)", {
                let path = strdup("/bin/true")
                defer { free(path) }
                var argv: [UnsafeMutablePointer<CChar>?] = [path, nil]
                var envp: [UnsafeMutablePointer<CChar>?] = [nil]
                return Int(execve("/bin/true", &argv, &envp))
            }),
            ("kill(parent, 0)", { Int(kill(parent, 0)) }),
            ("setpriority(parent)", { Int(setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(parent), 19)) }),
            ("open(/dev/null)", { Int(open("/dev/null", O_RDONLY)) }),
            ("getpid()", { Int(getpid()) }),
        ]
        for (name, call) in checks {
            let result = call()
            if result < 0 {
                print("\(name): refused (\(String(cString: strerror(errno))))")
            } else {
                print("\(name): allowed")
            }
        }
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("Seccomp:") || line.hasPrefix("NoNewPrivs:") {
            print(line.replacingOccurrences(of: "\t", with: " "))
        }
        return 0
    }
}
