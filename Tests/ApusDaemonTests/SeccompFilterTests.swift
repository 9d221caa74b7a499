@testable import ApusDaemon
import CSandbox
import Foundation
import Testing

/// The worker's seccomp program, run by a small classic-BPF interpreter written here from the kernel's rules (load a
/// word of seccomp_data, compare, jump, return), so the program's decisions are checked without installing it.
@Suite struct SeccompFilterTests {
    /// A system call as the filter sees it.
    struct Call {
        var number: UInt32
        var arch: UInt32 = UInt32(APUS_AUDIT_ARCH_X86_64)
        var arguments: [UInt64] = []
    }

    static func decide(_ program: [apus_bpf_instruction], _ call: Call) -> UInt32 {
        func word(at offset: UInt32) -> UInt32 {
            switch offset {
            case 0: return call.number
            case 4: return call.arch
            case 16..<64:
                let index = Int(offset - 16) / 8
                let value = index < call.arguments.count ? call.arguments[index] : 0
                return (offset - 16) % 8 == 0 ? UInt32(truncatingIfNeeded: value) : UInt32(truncatingIfNeeded: value >> 32)
            default: return 0xdead_beef
            }
        }
        var accumulator: UInt32 = 0
        var pc = 0
        while pc < program.count {
            let instruction = program[pc]
            switch instruction.code {
            case 0x20: accumulator = word(at: instruction.k)
            case 0x15: pc += accumulator == instruction.k ? Int(instruction.jt) : Int(instruction.jf)
            case 0x35: pc += accumulator >= instruction.k ? Int(instruction.jt) : Int(instruction.jf)
            case 0x45: pc += accumulator & instruction.k != 0 ? Int(instruction.jt) : Int(instruction.jf)
            case 0x06: return instruction.k
            default: Issue.record("unexpected opcode \(instruction.code) at \(pc)"); return 0
            }
            pc += 1
        }
        Issue.record("the program ran off its end")
        return 0
    }

    let ownPid: Int32 = 4242
    var program: [apus_bpf_instruction] { WorkerSystemCalls.filter(ownPid: ownPid).program }

    func decide(_ name: String, _ arguments: [UInt64] = []) -> UInt32 {
        Self.decide(program, Call(number: UInt32(WorkerSystemCalls.allowed[name] ?? Int32(Self.others[name]!)), arguments: arguments))
    }

    /// Numbers of calls the worker must not make (x86-64).
    static let others: [String: UInt32] = [
        "socket": 41, "connect": 42, "execve": 59, "kill": 62, "ptrace": 101, "tgkill": 234, "prlimit64": 302,
        "setpriority": 141, "clone": 56, "clone3": 435, "fork": 57, "vfork": 58, "mount": 165, "bpf": 321,
    ]

    @Test func theCallsAMachineMakesPass() {
        for name in ["read", "write", "ioctl", "futex", "mmap", "openat", "fsync", "rename", "sendto", "recvfrom"] {
            #expect(decide(name) == SeccompFilter.retAllow, "\(name)")
        }
        // A thread (CLONE_VM | CLONE_THREAD | ...), its priority, its kick signal, this process's own limits.
        #expect(decide("clone", [0x003d_0f00]) == SeccompFilter.retAllow)
        #expect(decide("setpriority", [0, 0, 5]) == SeccompFilter.retAllow)
        #expect(decide("tgkill", [UInt64(ownPid), 7, 10]) == SeccompFilter.retAllow)
        #expect(decide("prlimit64", [0, 7]) == SeccompFilter.retAllow)
    }

    @Test func everythingElseIsRefused() {
        let denied = SeccompFilter.retErrno(EPERM)
        for name in ["socket", "connect", "execve", "kill", "ptrace", "fork", "vfork", "mount", "bpf"] {
            #expect(decide(name) == denied, "\(name)")
        }
        // A new process, another process's threads, limits or priority.
        #expect(decide("clone", [UInt64(SIGCHLD)]) == denied)
        #expect(decide("tgkill", [UInt64(ownPid + 1), 7, 9]) == denied)
        #expect(decide("tgkill", [UInt64(ownPid) | 1 << 32, 7, 9]) == denied)
        #expect(decide("prlimit64", [1, 7]) == denied)
        #expect(decide("setpriority", [0, 1, 19]) == denied)
        // clone3 hides its flags in memory: ENOSYS makes the C library use clone instead.
        #expect(decide("clone3") == SeccompFilter.retErrno(ENOSYS))
        // Another ABI's table is not this one: the x32 numbers and a foreign architecture kill the process.
        #expect(Self.decide(program, Call(number: 0x4000_0000 + 41)) == SeccompFilter.retKillProcess)
        #expect(Self.decide(program, Call(number: 0, arch: 0x4000_0003)) == SeccompFilter.retKillProcess)
    }

    /// Every name in the table has the number the kernel's header gives it (where the header is installed).
    @Test func theTableMatchesTheKernelHeader() throws {
        let header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
        guard let text = try? String(contentsOfFile: header, encoding: .utf8) else {
            print("skipped: \(header) is not installed (linux-libc-dev)")
            return
        }
        var numbers: [String: Int32] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count == 3, fields[0] == "#define", fields[1].hasPrefix("__NR_"), let number = Int32(fields[2]) {
                numbers[String(fields[1].dropFirst(5))] = number
            }
        }
        for (name, number) in WorkerSystemCalls.allowed {
            #expect(numbers[name] == number, "\(name)")
        }
        for (name, number) in Self.others {
            #expect(numbers[name].map(UInt32.init) == number, "\(name)")
        }
    }
}
