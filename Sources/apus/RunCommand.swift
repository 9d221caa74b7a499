public import ApusCore
import ApusDevices
import ApusGuests
public import ApusVMM
public import ArgumentParser
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one virtual machine in this process, with its serial console on the terminal.",
        discussion: """
            IMAGE is a guest file (flat binary entered in real mode at 0x8000, ELF32 entered in protected mode, or \
            ELF64 entered in long mode; see docs/GUEST-ABI.md) or the name of a built-in guest. With neither IMAGE \
            nor --kernel, the built-in demo guest runs.

            An IMAGE with a Multiboot (v1) header boots as `qemu-system-x86_64 -kernel IMAGE` boots it: entered in \
            32-bit protected mode with EAX = 0x2BADB002 and EBX pointing at the Multiboot information (memory map, \
            --cmdline, --module files, loader name "Apus"). QEMU's fw_cfg device answers at ports 0x510/0x511 (RAM \
            size, CPU count, command line), and --exit-status qemu maps a debug-exit write as QEMU's isa-debug-exit \
            does, so scripts written for QEMU keep working.

            Examples:
              apus run                           # the demo guest
              apus run hello --backend soft      # a built-in guest on the software CPU
              apus run --kernel guests/linux/cache/vmlinux \\
                       --initrd guests/linux/cache/initramfs.cpio.gz
              apus run kernel.elf --cmdline "verbose" --module initrd.tar,initrd --exit-status qemu
              apus run --kernel vmlinux --initrd initramfs.cpio.gz --disk root.qcow2 \\
                       --cmdline "console=ttyS0 root=/dev/vda"

            --disk attaches a raw or qcow2 image (detected from its contents) as a virtio-blk device on the PCI \
            bus; the first is /dev/vda. A qcow2 image's backing files are opened read-only. Disks need the \
            interrupt-controller platform, which a Linux kernel gets; the image is flushed when the machine \
            pauses or ends.

            --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX] adds a virtio-net device (eth0, eth1, ... in the guest) on the \
            host TAP interface NAME: an existing TAP is attached to, a missing one is created for the run and \
            removed when it ends (both need CAP_NET_ADMIN, or a TAP made beforehand for your user with \
            `ip tuntap add NAME mode tap user $USER`). Apus does not configure the host side: bring it up and give \
            it an address with `ip`. The MAC defaults to one derived from NAME (02:a9:...), the same on every run.

            --rng adds a virtio-rng device fed from the host's getrandom(2): the guest's /dev/hwrng.

            --console2 PATH adds a virtio-console port (the guest's /dev/hvc0). PATH is a Unix socket Apus connects \
            to (both directions: e.g. `socat UNIX-LISTEN:PATH -` in another terminal first), or a file (created or \
            truncated) or FIFO that receives the guest's output. COM1 stays on the terminal.

            Backends: auto uses KVM when /dev/kvm is usable, except for a Linux kernel on a host whose CPU has no \
            hardware virtualization (no vmx or svm flag): such a KVM is software-nested, emulates guest kernel code \
            at a few MIPS and cannot finish a boot, so the kernel runs on the software CPU and a note on stderr says \
            so. --backend kvm or soft forces one.

            Standard input is forwarded to the guest's COM1 UART; Ctrl-C stops the machine.
            """)

    @Argument(help: "A guest image file, or a built-in guest name (see --list-guests).")
    var image: String?

    @Option(help: "Which vCPU backend runs the guest: auto (KVM when it can run the guest, else the software CPU), kvm or soft.")
    var backend: BackendChoice = .auto

    @Option(name: .customLong("soft-cpu"),
            help: "How the software CPU runs guest code: interpreter, or translate (hot blocks become host code; the interpreter runs the rest). Default: interpreter until the translation tier passes every test in CI, or APUS_SOFT_CPU from the environment.")
    var softCPU: SoftCPUMode = .default

    @Option(name: .customLong("memory"), help: "Guest memory in MiB (default 64, or 256 with --kernel).")
    var memory: Int?

    static let defaultKernelMemoryMiB = 256

    private var memoryMiB: Int {
        memory ?? (kernel == nil ? MachineConfiguration.defaultMemoryMiB : Self.defaultKernelMemoryMiB)
    }

    @Option(help: ArgumentHelp("Number of vCPUs, 1-64 (default 1, or what a built-in guest asks for).",
                               discussion: """
                                   vCPU 0 starts at the boot entry; the others wait, as at power-on, until the guest \
                                   starts them with INIT and start-up IPIs through its local APIC (so more than one \
                                   vCPU gives the machine the interrupt-controller platform). The software CPU runs \
                                   one vCPU so far.
                                   """))
    var vcpus: Int?

    @Option(help: "A Linux kernel to boot: an ELF vmlinux or a bzImage.")
    var kernel: String?

    @Option(help: "An initial ramdisk for --kernel.")
    var initrd: String?

    @Option(help: ArgumentHelp("The command line for --kernel, or for a Multiboot IMAGE.",
                               discussion: "Default for --kernel: \(RunCommand.defaultCommandLine) (without pci=off when there are PCI devices)"))
    var cmdline: String?

    @Option(name: .customLong("module"), parsing: .singleValue,
            help: ArgumentHelp("A module for a Multiboot IMAGE, as FILE or FILE,STRING (repeatable, loaded in order).",
                               discussion: "The kernel sees STRING next to the module, or FILE when there is none."))
    var modules: [String] = []

    @Option(name: .customLong("disk"), parsing: .singleValue,
            help: ArgumentHelp("A disk image as PATH or PATH,readonly (repeatable: /dev/vda, /dev/vdb, ...).",
                               discussion: "raw or qcow2, detected from the file."))
    var disks: [String] = []

    @Option(name: .customLong("net"), parsing: .singleValue,
            help: ArgumentHelp("A virtio-net device on a host TAP: tap=NAME[,mac=XX:XX:XX:XX:XX:XX] (repeatable).",
                               discussion: "The TAP is created when missing; see the discussion below."))
    var networks: [String] = []

    @Flag(name: .customLong("rng"), help: "Add a virtio-rng device fed from the host's getrandom(2) (/dev/hwrng).")
    var entropy = false

    @Option(name: .customLong("console2"),
            help: ArgumentHelp("A second console (virtio-console, the guest's /dev/hvc0) on PATH.",
                               discussion: "A Unix socket (connected to, both ways), or a file or FIFO (output only)."))
    var secondConsole: String?

    @Option(name: .customLong("exit-status"),
            help: "How a guest's write of V to the debug-exit port 0xF4 becomes the exit status: apus (V itself) or qemu ((V << 1) | 1, as QEMU's isa-debug-exit).")
    var exitStatusConvention: ExitStatusConvention = .apus

    @Option(name: .customLong("unmapped-io"),
            help: "What a guest access to an address with no device does: fail (default for guest images) or ignore (default for --kernel).")
    var unmappedIO: UnmappedAccessPolicy?

    @Flag(help: "List the built-in guests and exit.")
    var listGuests = false

    @Flag(name: .shortAndLong, help: "Print what boots, on which backend, and exit statistics on stderr.")
    var verbose = false

    static let defaultCommandLine =
        "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 pci=off nokaslr cryptomgr.notests=1"
    /// With disks the kernel must scan the PCI bus they sit on.
    static let defaultDiskCommandLine =
        "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 nokaslr cryptomgr.notests=1"

    func validate() throws {
        if image != nil && kernel != nil {
            throw ValidationError("give either an IMAGE or --kernel, not both")
        }
        if kernel == nil && initrd != nil {
            throw ValidationError("--initrd needs --kernel")
        }
        if kernel != nil && !modules.isEmpty {
            throw ValidationError("--module is for a Multiboot IMAGE; a Linux kernel takes --initrd")
        }
        if image == nil && kernel == nil && (cmdline != nil || !modules.isEmpty) {
            throw ValidationError("--cmdline and --module need a Multiboot IMAGE or --kernel")
        }
        if !disks.isEmpty && kernel == nil {
            throw ValidationError("--disk needs a Linux --kernel (disks sit on a PCI bus, which guest images do not get)")
        }
        if (!networks.isEmpty || entropy || secondConsole != nil) && kernel == nil {
            throw ValidationError("--net, --rng and --console2 need a Linux --kernel (they sit on a PCI bus)")
        }
        if !(2...MachineConfiguration.maximumMemoryMiB).contains(memoryMiB) {
            throw ValidationError("--memory must be between 2 and \(MachineConfiguration.maximumMemoryMiB) MiB")
        }
    }

    func run() throws {
        if listGuests {
            let nameWidth = (BuiltInGuests.all.map(\.name.count).max() ?? 0) + 2
            for guest in BuiltInGuests.all {
                print(guest.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + guest.summary)
            }
            return
        }
        let status = runMachine()
        throw ExitCode(status)
    }

    private func runMachine() -> Int32 {
        let output = FileDescriptorSerialOutput(fileDescriptor: STDOUT_FILENO)
        let machine: Machine
        do {
            machine = try Machine(configuration: try makeConfiguration(), output: output)
        } catch {
            Self.report("\(error)")
            return ExitStatus.vmmFailure
        }
        if let note = machine.backendNote { Self.report(note) }
        if verbose { Self.report("booting \(machine.bootSummary) on the \(machine.backendName) backend") }
        let interruption = InterruptionHandler { machine.stop() }
        let input = ConsoleInputPump(machine: machine)
        let outcome: MachineOutcome
        do {
            outcome = try machine.run()
        } catch {
            Self.report("\(error)")
            return ExitStatus.vmmFailure
        }
        output.flush()
        input.detach()
        interruption.cancel()
        if verbose {
            let counts = machine.exitCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            Self.report("\(outcome); exits: \(counts.joined(separator: " "))")
        }
        switch outcome {
        case .tripleFault, .failed:
            Self.report("\(outcome)")
        case .exited(let code) where code > ExitStatus.largestGuestCode:
            Self.report("guest result code \(code) does not fit an exit status; exiting with \(ExitStatus.largestGuestCode)")
        case .systemEvent(let event) where event != .shutdown:
            Self.report("guest requested \(event); `apus run` ends the run instead")
        default:
            break
        }
        return ExitStatus.forOutcome(outcome, convention: exitStatusConvention)
    }

    private func makeConfiguration() throws -> MachineConfiguration {
        let limit = UInt64(memoryMiB) << 20
        let boot: BootSource
        if let kernel {
            boot = .linux(kernel: try ImageSource.readFile(kernel, role: "kernel", limit: limit),
                          initrd: try initrd.map { try ImageSource.readFile($0, role: "initrd", limit: limit) },
                          commandLine: cmdline ?? (hasPCIDevices ? Self.defaultDiskCommandLine : Self.defaultCommandLine))
        } else {
            boot = try ImageSource.guestImage(image, commandLine: cmdline, modules: modules, limit: limit)
        }
        // Built-in guests that program the PIC and PIT get the interrupt-controller platform, and so does a machine
        // with application processors (their local APICs start them).
        let builtIn = FileManager.default.fileExists(atPath: image ?? "") ? nil : image.flatMap { BuiltInGuests.named($0) }
        let vcpuCount = vcpus ?? builtIn?.vcpus ?? 1
        let needsInterrupts = builtIn?.needsInterruptController == true || vcpuCount > 1
        var configuration = MachineConfiguration(memoryMiB: memoryMiB, vcpuCount: vcpuCount, backend: backend, boot: boot,
                                                 unmappedAccess: unmappedIO,
                                                 interruptController: needsInterrupts ? .full : nil,
                                                 disks: try disks.map { try DiskAttachment(argument: $0) })
        configuration.networks = try networks.map { try NetworkAttachment(argument: $0) }
        configuration.entropy = entropy
        configuration.secondConsole = secondConsole
        configuration.softCPU = softCPU
        return configuration
    }

    /// With PCI devices the kernel must scan the bus they sit on (no pci=off).
    private var hasPCIDevices: Bool { !disks.isEmpty || !networks.isEmpty || entropy || secondConsole != nil }

    static func report(_ message: String) {
        FileHandle.standardError.write(Data("apus: \(message)\n".utf8))
    }
}

extension BackendChoice: ExpressibleByArgument {}
extension SoftCPUMode: ExpressibleByArgument {}
extension ExitStatusConvention: ExpressibleByArgument {}
extension UnmappedAccessPolicy: ExpressibleByArgument {}
