public import ApusCore

/// The software CPU backend: a pure-Swift x86-64 interpreter behind the same protocols as KVM. Always usable.
public struct SoftCPUHypervisor: Hypervisor {
    public let name = "soft"
    public let model: CPUModel

    public init(model: CPUModel = .default) {
        self.model = model
    }

    public func availability() -> HypervisorAvailability { .usable }

    public func makeMachine(memory: GuestMemory, options: MachineOptions) throws -> any MachineBackend {
        try SoftMachine(memory: memory, options: options, model: model)
    }
}

public enum SoftCPUError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupported(String)
    case noInterruptController

    public var description: String {
        switch self {
        case .unsupported(let what): return "the software CPU does not support \(what) yet"
        case .noInterruptController:
            return "the software CPU has no interrupt controller (PIC, IOAPIC, LAPIC) yet, and Linux needs one; use --backend kvm"
        }
    }
}

/// A machine on the software CPU: guest memory is read and written directly; there is no kernel in between.
public final class SoftMachine: MachineBackend {
    public let backendName = "soft"
    public let memory: GuestMemory
    let model: CPUModel

    init(memory: GuestMemory, options: MachineOptions, model: CPUModel) throws {
        guard options.interruptController == .none else {
            throw SoftCPUError.noInterruptController
        }
        self.memory = memory
        self.model = model
    }

    public func makeVCPU(index: Int) throws -> any VCPUBackend {
        SoftVCPU(index: index, memory: memory, model: model)
    }

    /// No interrupt controller in this machine: the line goes nowhere, as on KVM without an irqchip.
    public func interruptLine(_ gsi: UInt32) -> any InterruptLine { DisconnectedInterruptLine() }
}
