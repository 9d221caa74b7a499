import ApusCore
#if canImport(Glibc)
import Glibc
#endif

/// Whether the CPU under /dev/kvm has hardware virtualization (VT-x or AMD-V), read from the host's CPU flags.
///
/// Without it (a software nested KVM such as `kvm_pvm`: the flags show neither `vmx` nor `svm`), user-mode guest code
/// still runs natively but the host kernel *emulates* guest kernel code at about 1-2 MIPS, and stops on instructions
/// its emulator lacks; a Linux kernel then never finishes booting (README, "Running guests").
public enum HostVirtualization {
    /// The flags `cpuinfo` lists (the first processor's), or nil when the file cannot be read.
    static func cpuFlags(cpuinfo path: String) -> Set<Substring>? {
        guard let text = readText(path) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " "))
        }
        return nil
    }

    /// The whole file as text (procfs files report size 0, so it is read until end of file).
    private static func readText(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                SystemCall.retryingInterrupts { read(descriptor, buffer.baseAddress, buffer.count) }
            }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// True when the host CPU advertises vmx or svm; also true when the flags cannot be read (an unknown host is
    /// given the benefit of the doubt, so KVM stays the default there).
    public static func hardwareAssisted(cpuinfo path: String = "/proc/cpuinfo") -> Bool {
        guard let flags = cpuFlags(cpuinfo: path) else { return true }
        return flags.contains("vmx") || flags.contains("svm")
    }
}
