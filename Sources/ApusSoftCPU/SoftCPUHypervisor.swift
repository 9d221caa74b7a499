public import ApusCore

/// The software CPU backend: a pure-Swift x86-64 interpreter behind the same protocols as KVM. Always usable.
public struct SoftCPUHypervisor: Hypervisor {
    public let name = "soft"
    public let model: CPUModel
    /// Interpreter only, or hot blocks translated to host code (SoftCPUTier).
    public let tier: SoftCPUTier

    public init(model: CPUModel = .default, tier: SoftCPUTier = .default) {
        self.model = model
        self.tier = tier
    }

    public func availability() -> HypervisorAvailability { .usable }

    /// Each vCPU is a host thread and LOCK-prefixed instructions are host atomics, so the count is bounded by the
    /// platform, not the interpreter: 64, the bound, which keeps every APIC ID an 8-bit xAPIC ID below the
    /// broadcast ID 0xFF (the MADT's local APIC entries and xAPIC destinations carry 8 bits). More vCPUs than host
    /// cores run correctly, only time-shared.
    public static let maximumVCPUs = 64

    public func vcpuLimit() -> VCPULimit {
        VCPULimit(maximum: Self.maximumVCPUs, reason: "the software CPU runs up to \(Self.maximumVCPUs) vCPUs per "
                  + "machine (8-bit xAPIC IDs, as the MADT lists them)")
    }

    public func makeMachine(memory: GuestMemory, options: MachineOptions) throws -> any MachineBackend {
        try SoftMachine(memory: memory, options: options, model: model, tier: tier)
    }
}

public enum SoftCPUError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupported(String)

    public var description: String {
        switch self {
        case .unsupported(let what): return "the software CPU does not support \(what) yet"
        }
    }
}
