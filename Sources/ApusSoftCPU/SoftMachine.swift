public import ApusCore
import Synchronization

/// A machine on the software CPU: guest memory is read and written directly; there is no kernel in between. With
/// the interrupt-controller platform, the VMM connects its 8259A pair: devices' lines lead there and the vCPUs take
/// their external interrupts from it.
public final class SoftMachine: MachineBackend {
    public let backendName = "soft"
    public let memory: GuestMemory
    let model: CPUModel
    let options: MachineOptions
    let tier: SoftCPUTier
    /// Shared by the machine's vCPUs: the interrupt hint and the place a halted vCPU sleeps.
    let waker = HaltWaker()
    private let controller = Mutex<(any ExternalInterruptController)?>(nil)
    private let localAPICs = Mutex<[any LocalInterruptController]>([])
    private let diagnostics = Mutex<(@Sendable (String) -> Void)?>(nil)

    init(memory: GuestMemory, options: MachineOptions, model: CPUModel, tier: SoftCPUTier = .interpreter) throws {
        self.tier = tier
        self.memory = memory
        self.model = model
        self.options = options
    }

    public func makeVCPU(index: Int) throws -> any VCPUBackend {
        let apics = localAPICs.withLock { $0 }
        return SoftVCPU(index: index, memory: memory, model: model, controller: controller.withLock { $0 },
                        localAPIC: index < apics.count ? apics[index] : nil, waker: waker,
                        diagnostics: diagnostics.withLock { $0 }, tier: tier)
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

    public func externalInterruptRaised() { waker.wake(interrupt: true) }

    /// The connected controller's input, or (without one) a line to nowhere, as on KVM without an irqchip.
    public func interruptLine(_ gsi: UInt32) throws -> any InterruptLine {
        guard let controller = controller.withLock({ $0 }) else { return DisconnectedInterruptLine() }
        return try controller.line(Int(gsi))
    }
}
