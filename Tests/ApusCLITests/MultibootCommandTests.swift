import ApusKVM
import Foundation
import Testing

/// A kernel made for `qemu-system-x86_64 -kernel` runs unchanged under `apus run`: the built-in multiboot guest
/// reads its command line, modules and memory map from the Multiboot information and its RAM size and CPU count from
/// fw_cfg, and exits through the debug-exit port with its module count, in Apus's and in QEMU's convention.
@Suite struct MultibootCommandTests {
    static let kvmUsable: Bool = {
        if case .unusable(let reason) = KVMHypervisor().availability() {
            print("MultibootCommandTests: KVM skipped: \(reason)")
            return false
        }
        return true
    }()

    @Test func commandLineModulesAndFirmwareConfigReachTheKernel() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-multiboot-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = directory.appendingPathComponent("first.txt"), second = directory.appendingPathComponent("second.bin")
        try Data("hello from module one\nsecond line\n".utf8).write(to: first)
        try Data([UInt8](repeating: 0x41, count: 5000)).write(to: second)

        for backend in ["soft"] + (Self.kvmUsable ? ["kvm"] : []) {
            let arguments = ["run", "multiboot", "--backend", backend, "--memory", "32", "--cmdline", "hello world",
                             "--module", "\(first.path),first arg", "--module", second.path]
            let qemu = try ApusCommand.run(arguments + ["--exit-status", "qemu"])
            #expect(qemu.status == 5, "two modules: (2 << 1) | 1; \(backend): \(qemu.standardError)")
            let output = qemu.standardOutput
            #expect(output.contains("multiboot: cmdline 'multiboot hello world'\n"), "\(backend): \(output)")
            #expect(output.contains("multiboot: loader Apus\n"))
            #expect(output.contains("multiboot: mem_lower 0000027f mem_upper 00007c00\n"), "31 MiB above 1 MiB")
            #expect(output.contains("multiboot: mmap 0000000000100000 length 0000000001f00000 type 00000001\n"))
            #expect(output.contains("multiboot: module 'first arg' size 00000022 page-aligned 'hello from module one'\n"))
            #expect(output.contains("multiboot: module '\(second.path)' size 00001388 page-aligned 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'\n"))
            #expect(output.contains("fw_cfg: signature QEMU\nfw_cfg: id 00000001\nfw_cfg: ram 0000000002000000\n"))
            #expect(output.contains("fw_cfg: cpus 00000001\nfw_cfg: cmdline 'hello world'\nfw_cfg: files 00000004\n"))
            #expect(output.contains("fw_cfg: file opt/org.apus/cmdline select 00000023 size 0000000c\n"))

            let apus = try ApusCommand.run(arguments)
            #expect(apus.status == 2, "\(backend): Apus's convention reports the value written")
            #expect(apus.standardOutput == output, "the same run prints the same lines")
        }
    }

    @Test func multibootOptionsAreRefusedWhereTheyCannotApply() throws {
        let plain = try ApusCommand.run(["run", "hello", "--backend", "soft", "--cmdline", "x"])
        #expect(plain.status == 125)
        #expect(plain.standardError.contains("has no Multiboot header"), "\(plain.standardError)")
        let kernelModule = try ApusCommand.run(["run", "--kernel", "/nonexistent", "--module", "/etc/hostname"])
        #expect(kernelModule.status != 0)
        #expect(kernelModule.standardError.contains("--module is for a Multiboot IMAGE"), "\(kernelModule.standardError)")
        let missing = try ApusCommand.run(["run", "multiboot", "--backend", "soft", "--module", "/nonexistent/module"])
        #expect(missing.status == 125)
        #expect(missing.standardError.contains("cannot read module '/nonexistent/module'"), "\(missing.standardError)")
        let badConvention = try ApusCommand.run(["run", "multiboot", "--exit-status", "bochs"])
        #expect(badConvention.status != 0 && badConvention.standardError.contains("exit-status"))
    }
}
