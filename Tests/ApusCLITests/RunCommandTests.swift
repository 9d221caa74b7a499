import ApusCore
import ApusKVM
import ApusTesting
import Foundation
import Testing

/// `apus run` as a user meets it: bad input gets one clear line on stderr and a non-zero status, never a crash.
@Suite struct RunCommandTests {
    static let kvm = KVMHypervisor().availability()

    private func requireKVM(_ test: String) -> Bool {
        if case .unusable(let reason) = Self.kvm {
            print("\(test): skipping: \(reason)")
            return false
        }
        return true
    }

    @Test func missingImageIsOneClearLine() throws {
        let result = try ApusCommand.run(["run", "/nonexistent/guest.elf"])
        #expect(result.status == 125)
        #expect(result.standardError == "apus: cannot read image '/nonexistent/guest.elf': No such file or directory\n")
    }

    @Test func unknownGuestNameListsTheBuiltInOnes() throws {
        let result = try ApusCommand.run(["run", "no-such-guest"])
        #expect(result.status == 125)
        #expect(result.standardError.contains("no file or built-in guest named 'no-such-guest'"))
        #expect(result.standardError.contains("hello"))
    }

    @Test func aKernelThatIsNotAKernelIsRefused() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-kernel-\(UUID())")
        try Data("just text\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        guard requireKVM("not a kernel") else { return }
        let result = try ApusCommand.run(["run", "--kernel", file.path])
        #expect(result.status == 125)
        #expect(result.standardError.contains("neither an ELF") && result.standardError.contains("bzImage"), "\(result.standardError)")
        #expect(result.standardError.split(separator: "\n").count == 1)
    }

    @Test func anInitrdLargerThanMemoryIsRefusedBeforeReading() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("big-initrd-\(UUID())")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: 8 << 20)
        try handle.close()
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try ApusCommand.run(["run", "--kernel", file.path, "--initrd", file.path, "--memory", "4"])
        #expect(result.status == 125)
        #expect(result.standardError.contains("larger than guest memory"), "\(result.standardError)")
    }

    @Test func invalidArgumentsAreUsageErrors() throws {
        for arguments in [["run", "--memory", "1"], ["run", "hello", "--kernel", "x"], ["run", "--backend", "qemu"],
                          ["run", "--initrd", "x"], ["run", "--net", "tap=t0"], ["run", "hello", "--rng"],
                          ["run", "--console2", "/tmp/x"], ["run", "hello", "--soft-cpu", "jit"]] {
            let result = try ApusCommand.run(arguments)
            #expect(result.status == 64, "\(arguments): \(result.status)")
            #expect(result.standardError.contains("Error:"), "\(arguments)")
        }
    }

    @Test func aNetworkThatIsNotOneIsOneClearLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-\(UUID())")
        try Data("any bytes: the network is checked first\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        for (argument, message) in [("tap=a/b", "is not an interface name"), ("tap=t0,mac=01:00:00:00:00:00", "multicast"),
                                    ("tap=t0,speed=9", "unknown network option")] {
            let result = try ApusCommand.run(["run", "--kernel", file.path, "--net", argument])
            #expect(result.status == 125, "\(argument)")
            #expect(result.standardError.contains(message), "\(argument): \(result.standardError)")
            #expect(result.standardError.split(separator: "\n").count == 1)
        }
    }

    @Test func guestsReportTheirResultAsTheExitStatus() throws {
        let backends = ["soft"] + (requireKVM("exit statuses on KVM") ? ["kvm"] : [])
        for backend in backends {
            let hello = try ApusCommand.run(["run", "hello", "--backend", backend])
            #expect(hello.status == 0)
            #expect(hello.standardOutput == "Hello from an Apus guest!\n")
            let crash = try ApusCommand.run(["run", "triplefault", "--backend", backend])
            #expect(crash.status == 125)
            #expect(crash.standardError == "apus: vCPU 0 triple-faulted (shutdown exit): the guest crashed\n")
            let unmapped = try ApusCommand.run(["run", "unmapped", "--backend", backend])
            #expect(unmapped.status == 125)
            #expect(unmapped.standardError.contains("unmapped port I/O address 0x1234"))
        }
    }

    @Test func theSoftCPUModeIsAnOptionAndTranslateRunsGuests() throws {
        for mode in ["interpreter", "translate"] {
            let hello = try ApusCommand.run(["run", "hello", "--backend", "soft", "--soft-cpu", mode])
            #expect(hello.status == 0, "\(mode): \(hello.standardError)")
            #expect(hello.standardOutput == "Hello from an Apus guest!\n", "\(mode)")
        }
        let help = try ApusCommand.run(["run", "--help"])
        #expect(help.standardOutput.contains("--soft-cpu"))
    }

    @Test func linuxBootsOnTheSoftwareCPUAndRebootEndsTheRun() throws {
        guard DebianGuest.require(for: "linux on the software CPU") else { return }
        let kernel = DebianGuest.kernel.path, initrd = DebianGuest.initramfs.path
        // The initramfs's /init prints APUS-INIT-OK and runs `reboot -f`; the default command line's reboot=k sends
        // that through the 8042, which ends the run.
        let result = try ApusCommand.run(["run", "--kernel", kernel, "--initrd", initrd, "--backend", "soft"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("Run /init as init process"))
        #expect(result.standardOutput.contains("APUS-INIT-OK"), "\(result.standardOutput.suffix(2000))")
        #expect(result.standardError.contains("guest requested reset"), "\(result.standardError)")
    }

    @Test func theDemoRunsWithNoArguments() throws {
        guard requireKVM("demo") else { return }
        let demo = try ApusCommand.run([])
        #expect(demo.status == 0)
        #expect(demo.standardOutput.hasPrefix("Apus demo guest"))
        #expect(demo.standardOutput.hasSuffix("demo: done, reporting result code 0\n"))
    }
}
