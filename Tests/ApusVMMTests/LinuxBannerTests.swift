import ApusCore
import ApusDevices
import ApusVMM
import ApusTesting
import Foundation
import Testing

/// The Debian cloud kernel (fetched by guests/linux/fetch.sh) must print its banner over our UART under KVM.
/// This machine's nested KVM emulates kernel code slowly and cannot finish the boot (shared/notes/host-kvm.md), so the
/// test suspends the machine once the early boot lines have appeared, restores it, and checks the kernel goes on.
@Suite struct LinuxBannerTests {
    @Test func debianKernelPrintsItsBannerUnderKVM() throws {
        guard Backends.usable(for: "Linux banner").contains(.kvm), DebianGuest.require(for: "LinuxBannerTests") else { return }
        let kernel = try [UInt8](Data(contentsOf: DebianGuest.kernel))
        let output = CapturingSerialOutput()
        let machine = try Machine(
            configuration: MachineConfiguration(
                memoryMiB: 256, backend: .kvm,
                boot: .linux(kernel: kernel, initrd: nil,
                             commandLine: "console=ttyS0 earlyprintk=serial,ttyS0,115200 nokaslr pci=off noxsave")),
            output: output)
        try machine.start()
        // A liveness bound, not a timing assertion: the banner takes about 18 s here.
        let deadline = Date().addingTimeInterval(240)
        while Date() < deadline && !output.text.contains("Command line:") {
            Thread.sleep(forTimeInterval: 0.2)
        }
        let text = output.text
        #expect(text.contains("Linux version 6."), "no banner; output: \(text.suffix(2000))")
        #expect(text.contains("Command line:"), "no early boot lines; output: \(text.suffix(2000))")
        guard text.contains("Command line:") else {
            machine.stop()
            _ = machine.waitForOutcome()
            return
        }

        // Suspend the booting kernel (with its in-kernel PICs, IOAPIC and LAPIC), restore it into a new machine, and
        // it must carry on booting rather than start over.
        let (restored, restoredOutput) = try suspendAndResume(machine)
        let restoreDeadline = Date().addingTimeInterval(240)
        while Date() < restoreDeadline && restoredOutput.text.split(whereSeparator: \.isNewline).count < 3 {
            Thread.sleep(forTimeInterval: 0.2)
        }
        restored.stop()
        let outcome = restored.waitForOutcome()
        let after = restoredOutput.text
        #expect(after.split(whereSeparator: \.isNewline).count >= 3, "no output after restore; outcome \(outcome): \(after.suffix(1000))")
        #expect(!after.contains("Linux version"), "the restored kernel booted again: \(after.prefix(1000))")
    }
}
