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

    /// Several vCPUs need LOCK-prefixed instructions to be host atomics on guest memory and stores to invalidate
    /// other vCPUs' decoded code: until they are, one vCPU per machine.
    public func vcpuLimit() -> VCPULimit {
        VCPULimit(maximum: 1, reason: "the software CPU runs one vCPU per machine so far (its instructions are not "
                  + "atomic across threads yet); use --backend kvm for more")
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
