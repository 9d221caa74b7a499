public import ApusCore

/// The shape of a machine that outlives one run: what a suspended machine needs to be rebuilt, without its boot
/// image (the guest is already in memory by then).
public struct MachinePlatform: Sendable, Codable, Equatable {
    public var memoryMiB: Int
    public var vcpuCount: Int
    public var backend: BackendChoice
    public var unmappedAccess: UnmappedAccessPolicy
    public var interruptController: InterruptControllerMode
}

extension MachineConfiguration {
    var platform: MachinePlatform {
        MachinePlatform(memoryMiB: memoryMiB, vcpuCount: vcpuCount, backend: backend,
                        unmappedAccess: effectiveUnmappedAccess, interruptController: effectiveInterruptController)
    }
}
