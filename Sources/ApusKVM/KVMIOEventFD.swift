import ApusCore
import CKVM
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An eventfd registered with KVM_IOEVENTFD: a guest write that matches (address, length, optionally a value) bumps
/// the eventfd's counter inside the kernel and the vCPU carries on, where it would otherwise leave KVM_RUN. A host
/// thread polls `descriptor` and calls `consume()`. Deregistered (and closed) by `detach()` or when released.
public final class KVMIOEventFD: Sendable {
    public let descriptor: Int32
    public let address: KVMMachine.IOEventAddress
    public let length: UInt32
    public let matching: UInt64?
    private let machine: KVMMachine
    private let attached = Atomic<Bool>(true)

    /// Writes of exactly `length` bytes (1, 2, 4 or 8) at `address`, of value `matching` when given.
    public init(machine: KVMMachine, at address: KVMMachine.IOEventAddress, length: UInt32,
                matching: UInt64? = nil) throws {
        let descriptor = ckvm_eventfd()
        guard descriptor >= 0 else { throw KVMError.ioctl(name: "eventfd", errno: errno) }
        do {
            try machine.attachIOEventFD(descriptor, at: address, length: length, matching: matching)
        } catch {
            close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.address = address
        self.length = length
        self.matching = matching
        self.machine = machine
    }

    deinit {
        detach()
        close(descriptor)
    }

    /// How many matching writes happened since the last call (0: none). Never blocks.
    public func consume() -> UInt64 {
        var count: UInt64 = 0
        let got = withUnsafeMutableBytes(of: &count) { read(descriptor, $0.baseAddress, 8) }
        return got == 8 ? count : 0
    }

    /// Stops KVM from signalling this eventfd: matching writes leave KVM_RUN as MMIO or port exits again. Idempotent.
    public func detach() {
        guard attached.exchange(false, ordering: .acquiringAndReleasing) else { return }
        // Fails only if KVM no longer knows the registration (the VM is going away): nothing to undo then.
        try? machine.detachIOEventFD(descriptor, at: address, length: length, matching: matching)
    }

    public var isAttached: Bool { attached.load(ordering: .acquiring) }
}
