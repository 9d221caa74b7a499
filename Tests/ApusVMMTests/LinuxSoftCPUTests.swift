import ApusCore
import ApusDevices
import ApusVMM
import ApusTesting
import Foundation
import Testing

/// The Debian cloud kernel (guests/linux/fetch.sh) boots on the software CPU to a busybox shell: the whole VMM
/// (loader, ACPI tables, local APIC, IOAPIC, 8259A/8254/CMOS/8042/ACPI PM platform, UART) with the interpreter
/// instead of KVM, which on this host cannot finish the boot at all. The machine is suspended to disk while the
/// kernel boots, restored into a new machine, and the restored kernel finishes booting; then the shell answers over
/// the console, /proc/interrupts shows the UART and the timer on IO-APIC pins and the local APIC timer counting,
/// the kernel log has no ACPI errors or warnings, the clock is one Linux trusts although two threads keep the host busy
/// until the shell answers (TSC frequency from CPUID, `tsc` clocksource, clock_getres 1 ns), and `poweroff -f` ends
/// the run through ACPI S5.
@Suite struct LinuxSoftCPUTests {
    /// A liveness bound, not a timing assertion: a debug build reaches the shell in about 2 minutes on an idle
    /// 2-core machine (a release build in about 11 s); a machine loaded several times over has taken over 5, and
    /// this boot shares the host with two busy threads on purpose (one run at load average ~15 took over 10).
    static let bootLimit: TimeInterval = 1200

    func waitFor(_ text: String, in output: CapturingSerialOutput, machine: Machine) -> Bool {
        let deadline = Date().addingTimeInterval(Self.bootLimit)
        while Date() < deadline {
            if output.text.contains(text) { return true }
            if machine.outcome != nil { return false }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    @Test func debianKernelBootsToAShellAcrossASuspend() throws {
        guard DebianGuest.require(for: "LinuxSoftCPUTests") else { return }
        let kernel = try [UInt8](Data(contentsOf: DebianGuest.kernel))
        let initrd = try [UInt8](Data(contentsOf: DebianGuest.initramfs))
        let output = CapturingSerialOutput()
        // rdinit=/bin/sh: busybox's shell on the console instead of the initramfs's scripted /init.
        let machine = try Machine(
            configuration: MachineConfiguration(
                memoryMiB: 256, backend: .soft,
                boot: .linux(kernel: kernel, initrd: initrd,
                             commandLine: "console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 rdinit=/bin/sh")),
            output: output)
        // The boot runs beside two busy host threads: the guest's view of time must not depend on how fast the
        // interpreter happens to run (issue 18). They stop once the shell has answered.
        let load = HostLoad(threads: 2)
        defer { load.stop() }
        print("LinuxSoftCPUTests: two busy threads load the host until the shell answers")
        try machine.start()
        let booting = waitFor("Serial: 8250/16550 driver", in: output, machine: machine)
        #expect(booting, "the kernel did not get to its console driver; output: \(output.text.suffix(2000))")
        guard booting else {
            machine.stop()
            _ = machine.waitForOutcome()
            return
        }

        let (restored, restoredOutput) = try suspendAndResume(machine)
        let prompt = waitFor("# ", in: restoredOutput, machine: restored)
        #expect(prompt, "no shell prompt after the restore; output: \(restoredOutput.text.suffix(2000))")
        #expect(!restoredOutput.text.contains("Linux version"), "the restored kernel booted again")
        guard prompt else {
            print("LinuxSoftCPUTests: output after the restore:\n\(restoredOutput.text.suffix(3000))")
            restored.stop()
            _ = restored.waitForOutcome()
            return
        }
        send("mount -t proc proc /proc\n", to: restored)
        send("echo APUS-$((6 * 7)) $(cat /proc/cpuinfo | while read key rest; do [ \"$key\" = vendor_id ] && echo $rest; done)\n",
             to: restored)
        let answered = waitFor("APUS-42 : GenuineIntel", in: restoredOutput, machine: restored)
        #expect(answered, "the shell did not answer; output: \(restoredOutput.text.suffix(2000))")
        load.stop()
        try checkInterruptPlatform(restored, output: restoredOutput)
        print("LinuxSoftCPUTests: the kernel's ACPI and APIC lines:\n" + (output.text + restoredOutput.text)
            .split(whereSeparator: \.isNewline).filter { $0.contains("ACPI") || $0.contains("APIC") || $0.contains("apic") }
            .joined(separator: "\n"))
        for text in [output.text, restoredOutput.text] {
            #expect(!text.contains("ACPI BIOS Error") && !text.contains("ACPI Warning") && !text.contains("ACPI Error"),
                    "the kernel complained about the ACPI tables: \(text.components(separatedBy: "\n").filter { $0.contains("ACPI") })")
        }
        checkTheClock(restored, restoredOutput, kernelLog: output.text + restoredOutput.text)
        send("poweroff -f\n", to: restored)
        let outcome = restored.waitForOutcome()
        #expect(outcome == .systemEvent(.shutdown), "\(outcome); output: \(restoredOutput.text.suffix(1000))")
    }

    /// /proc/interrupts read twice, a second apart: the UART (IRQ 4) and the PIT (IRQ 0, IOAPIC pin 2) are IO-APIC
    /// interrupts, and the local APIC timer's count ("LOC") grows.
    private func checkInterruptPlatform(_ machine: Machine, output: CapturingSerialOutput) throws {
        // $((n)) keeps the marker out of the echoed command line.
        send("cat /proc/interrupts; echo IRQ-TABLE-$((1))\n", to: machine)
        #expect(waitFor("IRQ-TABLE-1", in: output, machine: machine), "no /proc/interrupts; \(output.text.suffix(1000))")
        send("sleep 1; cat /proc/interrupts; echo IRQ-TABLE-$((2))\n", to: machine)
        #expect(waitFor("IRQ-TABLE-2", in: output, machine: machine), "no second /proc/interrupts; \(output.text.suffix(1000))")
        let text = output.text
        // The console ends lines with CR LF, a single Character to Swift: split on any newline.
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        print("LinuxSoftCPUTests: /proc/interrupts:\n" + lines.filter { $0.contains(":") && ($0.contains("IO-APIC") || $0.contains("LOC") || $0.contains("XT-PIC")) }.joined(separator: "\n"))
        #expect(lines.contains { $0.contains("IO-APIC") && $0.contains("ttyS0") }, "the UART is not on an IO-APIC pin")
        #expect(lines.contains { $0.contains("IO-APIC") && $0.contains("2-edge") && $0.contains("timer") },
                "the PIT is not on IO-APIC pin 2")
        let counts = lines.filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("LOC:") }.compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        }
        #expect(counts.count == 2 && counts[1] > counts[0], "local APIC timer counts \(counts)")
    }

    /// The CPU model and the clock Linux trusts (CPUModel.swift): a known vendor, no MSR the model implies but lacks,
    /// the TSC's frequency from CPUID 15h (no calibration against a timer the interpreter's speed skews), and `tsc`
    /// stays the clocksource (invariant TSC + TSC_ADJUST: Linux needs no clocksource watchdog).
    private func checkTheClock(_ machine: Machine, _ output: CapturingSerialOutput, kernelLog: String) {
        send("mount -t sysfs sysfs /sys\n", to: machine)
        send("echo CLOCK-$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)-$((1 + 1))\n", to: machine)
        let clocksource = waitFor("CLOCK-tsc-2", in: output, machine: machine)
        #expect(clocksource, "the clocksource is not tsc; output: \(output.text.suffix(1500))")
        let log = kernelLog + output.text
        for forbidden in ["unknown, using generic init", "unchecked MSR access", "Marking TSC unstable",
                          "Unable to calibrate against PIT", "Switched to clocksource refined-jiffies"] {
            #expect(!log.contains(forbidden), "the kernel log has \"\(forbidden)\"")
        }
        #expect(log.contains("tsc: Detected 1000.000 MHz processor"), "the TSC frequency came from CPUID")
        // clock_getres(2) from a program built from guests/linux/programs/clockres.c: 1 ns once high-resolution
        // timers run on a trusted clock, a whole tick (4 ms at HZ=250) on jiffies.
        send("/bin/apus-clockres; echo CLOCKRES-DONE-$((3))\n", to: machine)
        #expect(waitFor("CLOCKRES-DONE-3", in: output, machine: machine), "apus-clockres did not run; \(output.text.suffix(800))")
        let resolutions = output.text.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("APUS-CLOCK-RES") }
        print("LinuxSoftCPUTests: " + resolutions.joined(separator: "; "))
        #expect(resolutions.contains("APUS-CLOCK-RES CLOCK_MONOTONIC 0 1"), "clock_getres(CLOCK_MONOTONIC): \(resolutions)")
    }

    /// Console input a few bytes at a time, as the UART's 16-byte FIFO drains.
    private func send(_ text: String, to machine: Machine) {
        var remaining = Array(text.utf8)
        let deadline = Date().addingTimeInterval(60)
        while !remaining.isEmpty && Date() < deadline {
            let accepted = machine.sendConsoleInput(remaining)
            remaining.removeFirst(accepted)
            if !remaining.isEmpty { Thread.sleep(forTimeInterval: 0.01) }
        }
    }
}
