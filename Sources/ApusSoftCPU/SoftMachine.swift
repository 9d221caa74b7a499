public import ApusCore
import Synchronization

/// A machine on the software CPU: guest memory is read and written directly; there is no kernel in between. With
/// the interrupt-controller platform, the VMM connects its 8259A pair and one local APIC per vCPU: devices' lines
/// lead there and the vCPUs take their interrupts from them. Each vCPU runs on its own thread with its own TLB and
/// decoded instructions; they share guest RAM (atomics: CPUCore+Atomics) and the table of pages holding code
/// (SharedCodePages, for cross-modifying code).
public final class SoftMachine: MachineBackend {
    public let backendName = "soft"
    public let memory: GuestMemory
    let model: CPUModel
    let options: MachineOptions
    let tier: SoftCPUTier
    /// One per vCPU: its interrupt hint and the place it sleeps halted or waiting for start-up.
    private let wakers = Mutex<[Int: HaltWaker]>([:])
    /// Which RAM pages any vCPU holds decoded code from, and their generations.
    let codePages: SharedCodePages
    private let controller = Mutex<(any ExternalInterruptController)?>(nil)
    private let localAPICs = Mutex<[any LocalInterruptController]>([])
    private let diagnostics = Mutex<(@Sendable (String) -> Void)?>(nil)
    /// Each vCPU's marks of the pages it stored to, by vCPU index (dirty-page tracking).
    let writtenPageMaps = Mutex<[Int: GuestWrittenPages]>([:])
    let trackingWrites = Mutex(false)

    init(memory: GuestMemory, options: MachineOptions, model: CPUModel, tier: SoftCPUTier = .interpreter) throws {
        self.tier = tier
        self.memory = memory
        self.model = model
        self.options = options
        codePages = SharedCodePages(pageCount: PhysicalRAM.pageCount(of: memory))
    }

    /// vCPU `index`'s waker, made on first use (an interrupt may be raised for it before the vCPU exists).
    func waker(_ index: Int) -> HaltWaker {
        wakers.withLock { wakers in
            if let waker = wakers[index] { return waker }
            let waker = HaltWaker()
            wakers[index] = waker
            return waker
        }
    }

    public func makeVCPU(index: Int) throws -> any VCPUBackend {
        let apics = localAPICs.withLock { $0 }
        let amd = CPUTopology.isAMD(vendorEBX: model.cpuid(leaf: 0, subleaf: 0).1)
        return SoftVCPU(index: index, memory: memory, model: model, controller: controller.withLock { $0 },
                        localAPIC: index < apics.count ? apics[index] : nil, waker: waker(index),
                        diagnostics: diagnostics.withLock { $0 }, codePages: codePages,
                        topology: CPUTopology(apicID: UInt32(index), cpuCount: options.vcpuCount, amdLeaves: amd),
                        writtenPages: writtenPages(forVCPU: index), tier: tier)
    }

    public func setDiagnosticsHandler(_ handler: @escaping @Sendable (String) -> Void) {
        diagnostics.withLock { $0 = handler }
    }

    public var needsExternalInterruptController: Bool { options.interruptController == .full }

    public func connect(_ controller: any ExternalInterruptController) {
        self.controller.withLock { $0 = controller }
    }

    public var needsLocalAPICs: Bool { options.interruptController == .full }

    public func connect(localAPICs: [any LocalInterruptController]) {
        self.localAPICs.withLock { $0 = localAPICs }
    }

    /// The 8259A's INTR: it reaches the CPU without local APICs (one vCPU) or through the bootstrap processor's LINT0.
    public func externalInterruptRaised() { waker(0).wake(interrupt: true) }

    public func localInterruptRaised(vcpu: Int) { waker(vcpu).wake(interrupt: true) }

    /// The connected controller's input, or (without one) a line to nowhere, as on KVM without an irqchip.
    public func interruptLine(_ gsi: UInt32) throws -> any InterruptLine {
        guard let controller = controller.withLock({ $0 }) else { return DisconnectedInterruptLine() }
        return try controller.line(Int(gsi))
    }
}
