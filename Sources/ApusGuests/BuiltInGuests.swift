/// One of the guests built from guests/*.S, with what it must print and report when it runs correctly.
public struct BuiltInGuest: Sendable {
    public let name: String
    /// One line for `apus run --list-guests`.
    public let summary: String
    /// The image as `apus run IMAGE` would read it from a file (flat binary or ELF).
    public let image: [UInt8]
    /// Exactly what the guest prints on its UART.
    public let expectedOutput: String
    /// The result code it writes to the debug-exit port (guests that never exit keep 0 here; see `summary`).
    public let expectedResult: UInt32
    /// It programs the 8259A pair and the 8254, so its machine needs the interrupt-controller platform.
    public let needsInterruptController: Bool
    /// It runs legacy instructions at CPL 0 that a host's KVM may hand to its in-kernel instruction emulator (on a
    /// nested KVM host all CPL-0 code is emulated), which lacks some of them (BOUND, DAA, ICEBP, ARPL, LAR, RDTSCP,
    /// IRET in protected mode...). On KVM such a run may stop with "could not emulate" at the start of a line; the
    /// lines before it are still compared.
    public let kvmEmulatorMayStop: Bool
    /// The vCPUs its machine gets (`apus run --vcpus` overrides it); more than one needs the interrupt-controller
    /// platform, which such guests ask for.
    public let vcpus: Int
}

/// The guests assembled from guests/ at build time (Plugins/GuestBuildPlugin).
public enum BuiltInGuests {
    public static let all: [BuiltInGuest] = [
        guest("demo", "the built-in demo: climbs real -> protected -> long mode and draws the Mandelbrot set",
              output: demoOutput),
        guest("hello", "prints one line from 64-bit long mode", output: "Hello from an Apus guest!\n"),
        guest("real16", "16-bit real mode: segment arithmetic",
              output: "real mode: hello from 16 bits\nreal mode: segment arithmetic ok\n"),
        guest("protected32", "32-bit protected mode: a checksum",
              output: "protected mode: hello from 32 bits\nprotected mode: checksum ok\n"),
        guest("longmode", "switches itself to long mode; 4 KiB, 2 MiB and alias page mappings",
              output: "longmode: real mode\nlongmode: protected mode\nlongmode: long mode\n"
                + "longmode: 4 KiB, 2 MiB and alias mappings ok\n"),
        guest("mmio", "prints through a memory-mapped 16550A and checks MMIO reads",
              output: "mmio: hello through a memory-mapped UART\n"),
        guest("arith", "20 checks of integer arithmetic and flags", output: "arith: 20 checks passed\n"),
        guest("selfmodify", "rewrites code just ahead of itself and between loop iterations (store, rep movsb, atomics)",
              output: "selfmodify: 4 checks passed\n"),
        guest("counter", "counts on the console forever (for pause, suspend and resume)", output: ""),
        guest("timer", "takes 10 timer interrupts from the 8254 through the 8259A while halted",
              output: "timer: 10 interrupts taken\n", interrupts: true),
        guest("apic", "local APIC (self-IPIs, TPR, timer one-shot/periodic/TSC-deadline) and IOAPIC pin 4 edge/masked/level",
              output: "apic: self-IPI order 61 51 41\n"
                + "apic: TPR 0x50 holds 0x45, then 00 01\n"
                + "apic: one-shot ticks, count after 01 00\n"
                + "apic: periodic ticks at least 05\n"
                + "apic: TSC-deadline ticks, MSR after 01 00\n"
                + "ioapic: pin 4 edge hits, then masked 01 01\n"
                + "ioapic: pin 4 level deliveries 03\n"
                + "ioapic: pin 4 level in service in its handler 03\n"
                + "apic: done\n", interrupts: true),
        guest("bench-ipi", "the interrupt-delivery benchmark: self-IPIs through the local APIC, each waited for",
              output: "bench-ipi: done\n", interrupts: true),
        guest("memfill", "dirties 248 MiB of RAM, then spins (the suspend benchmark; needs 256 MiB)",
              output: "memfill: 248 MiB dirtied\n"),
        guest("piobench", "one port write per loop, forever (the PIO benchmark)", output: ""),
        guest("bench-compute", "the software-CPU benchmark's compute loop; Multiboot, so QEMU boots it too",
              output: "bench-compute: done\n"),
        guest("bench-paging", "the software-CPU benchmark's 4 KiB-page memory walk; Multiboot (needs 48 MiB)",
              output: "bench-paging: done\n"),
        guest("multiboot", "a Multiboot kernel: prints its Multiboot information and QEMU fw_cfg items, exits with its module count",
              output: multibootOutput),
        guest("isa-real", "real mode: moffs, segment push/pop, PUSHA, LES/LDS, far calls, SMSW/LMSW, BCD, INTO, INT1, SALC, BOUND",
              output: isaRealOutput, kvmEmulatorMayStop: true),
        guest("isa-pm16", "16-bit protected mode: 286 gates, selectors, LAR/LSL/VERR/VERW, ARPL and the 16-bit groups",
              output: isaProtected16Output, kvmEmulatorMayStop: true),
        guest("isa-pm32", "32-bit protected mode, Multiboot: CPUID-gated instructions, x87 pointers, ring 3 and back",
              output: isaProtected32Output, kvmEmulatorMayStop: true),
        guest("isa-long", "64-bit mode: moffs64, segment loads and the LDT, CPUID-gated instructions, x87 pointers, 64-bit #UD opcodes, ring 3",
              output: isaLongOutput, kvmEmulatorMayStop: true),
        guest("smp", "4 vCPUs: INIT/SIPI start-up, per-vCPU APIC IDs in CPUID, 400,000 LOCK XADDs on one counter",
              output: "smp: CPU count 4, APIC IDs 0 1 2 3\n"
                + "smp: every AP's CPUID.1 APIC ID is its local APIC's ID\n"
                + "smp: counter 400000, expected 400000\n", interrupts: true, vcpus: 4),
        guest("triplefault", "crashes with a triple fault on purpose", output: ""),
        guest("unmapped", "writes to a port with no device on purpose", output: ""),
    ]

    public static func named(_ name: String) -> BuiltInGuest? {
        all.first { $0.name == name }
    }

    public static var demo: BuiltInGuest {
        all[0]
    }

    private static func guest(_ name: String, _ summary: String, output: String, interrupts: Bool = false,
                              kvmEmulatorMayStop: Bool = false, vcpus: Int = 1) -> BuiltInGuest {
        // The plugin builds every guests/*.S; a missing entry means the package itself is broken.
        let encoded = GuestImages.base64[name] ?? ""
        let image = encoded.isEmpty ? [] : [UInt8](base64Decoded: encoded)
        return BuiltInGuest(name: name, summary: summary, image: image, expectedOutput: output, expectedResult: 0,
                            needsInterruptController: interrupts, kvmEmulatorMayStop: kvmEmulatorMayStop,
                            vcpus: vcpus)
    }

    /// What the multiboot guest prints when run as a built-in guest with 64 MiB, no --cmdline and no modules.
    static let multibootOutput = """
        multiboot: flags 0000024d
        multiboot: cmdline 'multiboot'
        multiboot: loader Apus
        multiboot: mem_lower 0000027f mem_upper 0000fc00
        multiboot: mmap 0000000000000000 length 000000000009fc00 type 00000001
        multiboot: mmap 000000000009fc00 length 0000000000060400 type 00000002
        multiboot: mmap 0000000000100000 length 0000000003f00000 type 00000001
        fw_cfg: signature QEMU
        fw_cfg: id 00000001
        fw_cfg: ram 0000000004000000
        fw_cfg: cpus 00000001
        fw_cfg: cmdline ''
        fw_cfg: files 00000004
        fw_cfg: file etc/e820 select 00000020 size 0000003c
        fw_cfg: file opt/org.apus/cmdline select 00000023 size 00000001
        fw_cfg: file opt/org.apus/cpu-count select 00000022 size 00000002
        fw_cfg: file opt/org.apus/ram-size select 00000021 size 00000008

        """

    static let demoOutput = """
        Apus demo guest: a tiny OS booting on your hypervisor
        [real mode]      16-bit, segments of 64 KiB
        [protected mode] 32-bit, flat 4 GiB segments
        [long mode]      64-bit, 4-level paging on; drawing the Mandelbrot set:
                 ...................,,-+@.......
              ...................,,,=@@@#,......
           ..................,:%@:@#@@@@@@@::::.
          ..........,,...,,,,*@@@@@@@@@@@@@@@@,,
         .........,,:=@+@+%:-@@@@@@@@@@@@@@@@@@,
         ....,,,,:#+@@@@@@@@@@@@@@@@@@@@@@@@@@@,
         ....,,,,:@+@@@@@@@@@@@@@@@@@@@@@@@@@@@,
         .........,,:=@+@+@:-@@@@@@@@@@@@@@@@@@,
          ..........,,...,,,,+@@@@@@@@@@@@@@@@,,
           ..................,:%%:@#@@@@@@@::::.
              ...................,,,=@@@#,......
                 ...................,,-==.......
        demo: done, reporting result code 0

        """
}
