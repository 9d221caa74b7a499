import ApusCore
import ApusDevices
import ApusVMM
import ApusTesting
import Foundation
import Testing

extension LinuxGuestTests {
    /// The Debian cloud kernel (guests/linux/fetch.sh) boots on the software CPU to a busybox shell: the whole VMM
    /// (loader, ACPI tables, local APIC, IOAPIC, 8259A/8254/CMOS/8042/ACPI PM platform, UART) with the interpreter
    /// instead of KVM, which on this host cannot finish the boot at all. The boot is the shared guest's
    /// (SharedLinuxGuest): suspended to disk while the kernel boots, restored into a new machine, where the kernel
    /// finishes booting, beside two threads that keep the host busy while the kernel settles its clock. Here the
    /// shell answers over the console, /proc/interrupts shows the UART and the timer on IO-APIC pins and the local
    /// APIC timer counting, the kernel log has no ACPI errors or warnings, and the clock is one Linux trusts (TSC frequency from
    /// CPUID, `tsc` clocksource, clock_getres 1 ns). That `poweroff -f` ends the run through ACPI S5 is checked when
    /// the shared guest is powered off, after the last of its suites.
    @Suite struct LinuxSoftCPUTests {
        @Test func debianKernelBootsToAShellAcrossASuspend() async throws {
            guard let guest = await SharedLinuxGuest.current().guest(for: "LinuxSoftCPUTests") else { return }
            #expect(guest.bootLog.contains("Serial: 8250/16550 driver"), "the suspend came before the console driver")
            #expect(!guest.output.text.contains("Linux version"), "the restored kernel booted again")
            let answer = await guest.run(
                "echo APUS-$((6 * 7)) $(cat /proc/cpuinfo | while read key rest; do [ \"$key\" = vendor_id ] && echo $rest; done)")
            #expect(answer.text.contains("APUS-42 : GenuineIntel"), "the shell did not answer; output: \(guest.output.text.suffix(2000))")
            await checkInterruptPlatform(guest)
            print("LinuxSoftCPUTests: the kernel's ACPI and APIC lines:\n" + guest.kernelLog
                .split(whereSeparator: \.isNewline).filter { $0.contains("ACPI") || $0.contains("APIC") || $0.contains("apic") }
                .joined(separator: "\n"))
            for text in [guest.bootLog, guest.output.text] {
                #expect(!text.contains("ACPI BIOS Error") && !text.contains("ACPI Warning") && !text.contains("ACPI Error"),
                        "the kernel complained about the ACPI tables: \(text.components(separatedBy: "\n").filter { $0.contains("ACPI") })")
            }
            await checkTheClock(guest)
        }

        /// /proc/interrupts read twice, a second apart: the UART (IRQ 4) and the PIT (IRQ 0, IOAPIC pin 2) are
        /// IO-APIC interrupts, and the local APIC timer's count ("LOC") grows.
        private func checkInterruptPlatform(_ guest: SharedLinuxGuest) async {
            let first = await guest.run("cat /proc/interrupts")
            #expect(first.finished, "no /proc/interrupts; \(guest.output.text.suffix(1000))")
            let second = await guest.run("sleep 1; cat /proc/interrupts")
            #expect(second.finished, "no second /proc/interrupts; \(guest.output.text.suffix(1000))")
            // The console ends lines with CR LF, a single Character to Swift: split on any newline.
            let lines = (first.text + second.text).split(whereSeparator: \.isNewline).map(String.init)
            print("LinuxSoftCPUTests: /proc/interrupts:\n" + lines.filter { $0.contains(":") && ($0.contains("IO-APIC") || $0.contains("LOC") || $0.contains("XT-PIC")) }.joined(separator: "\n"))
            #expect(lines.contains { $0.contains("IO-APIC") && $0.contains("ttyS0") }, "the UART is not on an IO-APIC pin")
            #expect(lines.contains { $0.contains("IO-APIC") && $0.contains("2-edge") && $0.contains("timer") },
                    "the PIT is not on IO-APIC pin 2")
            let counts = lines.filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("LOC:") }.compactMap { line in
                line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
            }
            #expect(counts.count == 2 && counts[1] > counts[0], "local APIC timer counts \(counts)")
        }

        /// The CPU model and the clock Linux trusts (CPUModel.swift): a known vendor, no MSR the model implies but
        /// lacks, the TSC's frequency from CPUID 15h (no calibration against a timer the interpreter's speed skews),
        /// and `tsc` stays the clocksource (invariant TSC + TSC_ADJUST: Linux needs no clocksource watchdog).
        private func checkTheClock(_ guest: SharedLinuxGuest) async {
            let clocksource = await guest.run("cat /sys/devices/system/clocksource/clocksource0/current_clocksource")
            #expect(clocksource.text.split(whereSeparator: \.isNewline).contains("tsc"),
                    "the clocksource is not tsc: \(clocksource.text.debugDescription)")
            // clock_getres(2) from a program built from guests/linux/programs/clockres.c: 1 ns once high-resolution
            // timers run on a trusted clock, a whole tick (4 ms at HZ=250) on jiffies.
            let clockres = await guest.run("/bin/apus-clockres")
            #expect(clockres.finished, "apus-clockres did not run; \(guest.output.text.suffix(800))")
            let resolutions = clockres.text.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("APUS-CLOCK-RES") }
            print("LinuxSoftCPUTests: " + resolutions.joined(separator: "; "))
            #expect(resolutions.contains("APUS-CLOCK-RES CLOCK_MONOTONIC 0 1"), "clock_getres(CLOCK_MONOTONIC): \(resolutions)")
            let log = guest.kernelLog
            for forbidden in ["unknown, using generic init", "unchecked MSR access", "Marking TSC unstable",
                              "Unable to calibrate against PIT", "Switched to clocksource refined-jiffies"] {
                #expect(!log.contains(forbidden), "the kernel log has \"\(forbidden)\"")
            }
            #expect(log.contains("tsc: Detected 1000.000 MHz processor"), "the TSC frequency came from CPUID")
        }
    }
}
