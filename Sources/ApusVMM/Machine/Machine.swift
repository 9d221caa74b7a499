import ApusBoot
import ApusCore
import ApusSoftCPU
public import ApusDevices
import Synchronization

/// One virtual machine: built from a configuration (or a suspended state), run on dedicated vCPU threads, paused,
/// resumed, suspended and stopped from any other thread.
public final class Machine: Sendable {
    public let platform: MachinePlatform
    /// "kvm" or "soft".
    public let backendName: String
    /// A one-line description of what boots, for the user.
    public let bootSummary: String
    /// Why `auto` chose the backend it did, when that is not the obvious choice (shown to the user).
    public let backendNote: String?
    let parts: MachineParts
    let control: RunControl
    private let entries: [VCPUEntry]
    private let statistics: [ExitStatisticsBox]
    private let started = Mutex(false)
    /// The dirty-page tracker, while one runs (Machine+DirtyPages).
    let dirtyPageTracker = Mutex<DirtyPageTracker?>(nil)

    /// Builds the machine; nothing runs until `start()`. Console output goes to `output`.
    public convenience init(configuration: MachineConfiguration, output: any SerialOutput) throws {
        try configuration.validate()
        let isKernel = if case .linux = configuration.boot { true } else { false }
        let resolution = try configuration.backend.resolve(runsGuestKernel: isKernel, softCPU: configuration.softCPU)
        let hypervisor = resolution.hypervisor
        try Self.checkVCPULimit(configuration.vcpuCount, on: hypervisor)
        let control = RunControl()
        let (parts, plan) = try MachineParts.build(platform: configuration.platform, hypervisor: hypervisor,
                                                   output: output, control: control,
                                                   commandLine: configuration.boot.commandLine) { memory in
            try Self.load(configuration.boot, into: memory, acpi: Self.acpiPlatform(for: configuration.platform))
        }
        self.init(parts: parts, control: control, backendName: hypervisor.name, backendNote: resolution.note,
                  summary: plan.summary, entries: VCPUEntry.freshBoot(plan, vcpuCount: configuration.vcpuCount))
    }

    init(parts: MachineParts, control: RunControl, backendName: String, backendNote: String? = nil, summary: String,
         entries: [VCPUEntry]) {
        self.platform = parts.platform
        self.parts = parts
        self.control = control
        self.backendName = backendName
        self.backendNote = backendNote
        self.bootSummary = summary
        self.entries = entries
        self.statistics = entries.map { _ in ExitStatisticsBox() }
    }

    /// Refuses more vCPUs than the backend runs here, saying why (a fresh boot, or a restore onto another backend).
    static func checkVCPULimit(_ count: Int, on hypervisor: any Hypervisor) throws {
        let limit = hypervisor.vcpuLimit()
        guard count <= limit.maximum else {
            throw VMMError.invalidConfiguration("\(count) vCPUs on the \(hypervisor.name) backend: \(limit.reason)")
        }
    }

    /// What the ACPI tables describe on the interrupt-controller platform: its controllers and PCI bus 0.
    private static func acpiPlatform(for platform: MachinePlatform) -> ACPIPlatform? {
        guard platform.interruptController == .full else { return nil }
        var acpi = ACPIPlatform(vcpuCount: platform.vcpuCount)
        PCIPlatform.description.describe(in: &acpi)
        return acpi
    }

    /// A Linux kernel on the interrupt-controller platform finds the machine through ACPI tables (the Debian kernel
    /// has no MP-table parser).
    private static func load(_ boot: BootSource, into memory: GuestMemory, acpi: ACPIPlatform?) throws -> BootPlan {
        do {
            switch boot {
            case .guestImage(let name, let bytes):
                return try GuestImageLoader.load(bytes, name: name, into: memory)
            case .linux(let kernel, let initrd, let commandLine):
                return try LinuxBootLoader.load(kernel: kernel, initrd: initrd, commandLine: commandLine, into: memory,
                                                acpi: acpi)
            case .multiboot(let name, let bytes, let commandLine, let modules):
                // As QEMU and GRUB do, the kernel's own name is the first word of its command line.
                return try MultibootLoader.load(bytes, commandLine: commandLine.isEmpty ? name : "\(name) \(commandLine)",
                                                modules: modules, into: memory)
            }
        } catch {
            throw VMMError.bootFailed("\(error)")
        }
    }

    /// Starts every vCPU on its own OS thread.
    public func start() throws {
        try started.withLock { started in
            guard !started else { throw VMMError.invalidState("the machine was already started") }
            started = true
        }
        for (index, entry) in entries.enumerated() {
            VCPURunner(index: index, vcpuCount: entries.count, backend: parts.backend, dispatcher: parts.dispatcher, control: control,
                       entry: entry, statistics: statistics[index]).spawn()
        }
        parts.timer?.start()
    }

    /// Stops every vCPU between two exits; returns once all are parked. Memory stays resident.
    /// Disk images are flushed once the vCPUs are parked, so a paused machine's images are consistent on the host;
    /// host input (network frames, console bytes) waits until `resume`, so guest memory stays as it was.
    public func pause() throws {
        try control.pause()
        parts.pci?.holdHostInput(true)
        flushDisks()
    }
    public func resume() throws {
        try control.resume()
        parts.pci?.holdHostInput(false)
    }
    /// Asks every vCPU to leave; `waitForOutcome()` then returns `.stopped` unless the guest ended first.
    public func stop() { control.stop() }
    public var isPaused: Bool { control.isPaused }

    /// How the run ended, without waiting: nil while it goes on.
    public var outcome: MachineOutcome? { control.finishedOutcome }

    /// Blocks until the run ends.
    public func waitForOutcome() -> MachineOutcome { control.waitForOutcome() }

    /// Failures are logged: the guest has already been told its writes completed, and the run goes on.
    func flushDisks() {
        for failure in parts.pci?.flushDisks() ?? [] { MachineLog.logger.error("\(failure)") }
    }

    /// Starts the machine and blocks until it ends.
    public func run() throws -> MachineOutcome {
        try start()
        return waitForOutcome()
    }

    /// Feeds host input to the console UART; returns how many bytes it accepted (its FIFO holds 16).
    @discardableResult
    public func sendConsoleInput(_ bytes: [UInt8]) -> Int {
        parts.console.with(Serial16550.self) { $0.receive(bytes) } ?? 0
    }

    /// Exits per kind, summed over vCPUs: at most `ExitStatistics.publishInterval` exits behind while the machine
    /// runs, exact once it is paused or has ended.
    public var exitCounts: [String: Int] {
        statistics.reduce(into: [:]) { total, stats in
            total.merge(stats.snapshot.byKind) { $0 + $1 }
        }
    }
}
