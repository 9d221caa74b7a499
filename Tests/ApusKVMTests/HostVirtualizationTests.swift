import ApusKVM
import Foundation
import Testing

/// Reading the host's CPU flags decides whether KVM runs guest kernel code on the CPU or emulates it.
@Suite struct HostVirtualizationTests {
    private func cpuinfo(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("apus-cpuinfo-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func vmxOrSvmMeansHardwareAssisted() throws {
        for flag in ["vmx", "svm"] {
            let path = try cpuinfo("processor\t: 0\nflags\t\t: fpu sse2 \(flag) lm\nbugs\t\t: spectre_v1\n")
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(HostVirtualization.hardwareAssisted(cpuinfo: path))
        }
    }

    @Test func flagsWithoutEitherMeanSoftwareNestedKVM() throws {
        // "vmx" as part of another flag (or in another line) does not count.
        let path = try cpuinfo("processor\t: 0\nvmx flags\t: ept\nflags\t\t: fpu sse2 vmxon_like lm hypervisor\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(!HostVirtualization.hardwareAssisted(cpuinfo: path))
    }

    @Test func anUnreadableFileKeepsKVMTheDefault() {
        #expect(HostVirtualization.hardwareAssisted(cpuinfo: "/nonexistent/cpuinfo"))
    }
}
