import CSandbox
#if canImport(Glibc)
import Glibc
#endif

/// A seccomp filter as a classic BPF program built here. System calls in `allowed` pass; those in `restricted` pass
/// only with one argument equal to a value (e.g. "this process's own pid"); `clone` passes only for threads, never a
/// new process; `clone3` answers ENOSYS (so the C library falls back to `clone`, whose flags a filter can see); the
/// x32 ABI and any other architecture kill the process; everything else fails with EPERM, so the worker gets an
/// error it reports rather than dying, and a compromised worker cannot open sockets, run programs, trace, signal or
/// limit other processes, or start new ones.
struct SeccompFilter {
    struct Restriction {
        let number: Int32
        let argument: Int
        let value: UInt64
    }

    let allowed: [Int32]
    let restricted: [Restriction]

    static let retAllow: UInt32 = 0x7fff_0000
    static let retKillProcess: UInt32 = 0x8000_0000
    static func retErrno(_ code: Int32) -> UInt32 { 0x0005_0000 | UInt32(code & 0xffff) }

    // Classic BPF opcodes.
    private static let loadWord: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
    private static let jumpEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
    private static let jumpAtLeast: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
    private static let jumpAnyBit: UInt16 = 0x45  // BPF_JMP | BPF_JSET | BPF_K
    private static let ret: UInt16 = 0x06  // BPF_RET | BPF_K

    /// x86-64 numbers of the two calls the filter treats specially.
    static let cloneNumber: UInt32 = 56
    static let clone3Number: UInt32 = 435
    private static let cloneThread: UInt32 = 0x0001_0000

    /// struct seccomp_data: args[i] is 8 bytes at 16 + 8i, low half first (x86-64 is little-endian).
    private static func argumentOffset(_ index: Int, high: Bool) -> UInt32 { UInt32(16 + 8 * index + (high ? 4 : 0)) }

    var program: [apus_bpf_instruction] {
        func op(_ code: UInt16, _ k: UInt32, _ jt: Int = 0, _ jf: Int = 0) -> apus_bpf_instruction {
            precondition((0...255).contains(jt) && (0...255).contains(jf), "a jump beyond 255 instructions")
            return apus_bpf_instruction(code: code, jt: UInt8(jt), jf: UInt8(jf), k: k)
        }
        // Layout: header (4), one test per allowed call, five per restricted call, the clone3 and clone tests (4),
        // then the returns: deny, allow, kill, enosys.
        let deny = 4 + allowed.count + 5 * restricted.count + 4
        let allow = deny + 1
        let kill = deny + 2
        let enosys = deny + 3
        var program: [apus_bpf_instruction] = []
        func to(_ target: Int) -> Int { target - program.count - 1 }
        program.append(op(Self.loadWord, UInt32(APUS_SECCOMP_DATA_ARCH)))
        program.append(op(Self.jumpEqual, UInt32(APUS_AUDIT_ARCH_X86_64), 0, to(kill)))
        program.append(op(Self.loadWord, UInt32(APUS_SECCOMP_DATA_NR)))
        // The x32 ABI's numbers (bit 30) are another table of calls: refused outright.
        program.append(op(Self.jumpAtLeast, 0x4000_0000, to(kill), 0))
        for number in allowed {
            program.append(op(Self.jumpEqual, UInt32(bitPattern: number), to(allow), 0))
        }
        for restriction in restricted {
            // Not this call: skip the block with the number still loaded.
            program.append(op(Self.jumpEqual, UInt32(bitPattern: restriction.number), 0, 4))
            program.append(op(Self.loadWord, Self.argumentOffset(restriction.argument, high: false)))
            program.append(op(Self.jumpEqual, UInt32(truncatingIfNeeded: restriction.value), 0, to(deny)))
            program.append(op(Self.loadWord, Self.argumentOffset(restriction.argument, high: true)))
            program.append(op(Self.jumpEqual, UInt32(truncatingIfNeeded: restriction.value >> 32), to(allow), to(deny)))
        }
        program.append(op(Self.jumpEqual, Self.clone3Number, to(enosys), 0))
        program.append(op(Self.jumpEqual, Self.cloneNumber, 0, to(deny)))
        program.append(op(Self.loadWord, Self.argumentOffset(0, high: false)))
        program.append(op(Self.jumpAnyBit, Self.cloneThread, to(allow), to(deny)))
        precondition(program.count == deny)
        program.append(op(Self.ret, Self.retErrno(EPERM)))
        program.append(op(Self.ret, Self.retAllow))
        program.append(op(Self.ret, Self.retKillProcess))
        program.append(op(Self.ret, Self.retErrno(ENOSYS)))
        return program
    }

    /// Installs the filter on every thread of this process (they get PR_SET_NO_NEW_PRIVS with it); it cannot be
    /// removed.
    func install() throws {
        let program = self.program
        let result = program.withUnsafeBufferPointer { apus_install_seccomp_filter($0.baseAddress, UInt16($0.count)) }
        guard result == 0 else {
            throw SandboxFailure(description: result > 0
                ? "seccomp: thread \(result) could not be synchronized"
                : "seccomp: \(String(cString: strerror(errno)))")
        }
    }
}

struct SandboxFailure: Error, CustomStringConvertible {
    let description: String
}
