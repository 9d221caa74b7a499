import ApusCore
import Synchronization

/// What a KVM machine on the split irqchip knows of the VMM's interrupt controllers: the 8259A pair (its INTR goes to
/// the bootstrap vCPU through KVM_INTERRUPT), the IOAPIC (which hears the EOIs of its level-triggered vectors), and
/// the bootstrap vCPU's kicker, so a PIC interrupt raised while that vCPU sleeps in HLT inside KVM_RUN reaches it.
/// Filled while the machine is built; read when vCPUs are made and from device threads.
final class SplitIRQChipLinks: Sendable {
    private let picController = Mutex<(any ExternalInterruptController)?>(nil)
    /// Weak: the IOAPIC sends its messages through the machine, so a strong reference here would be a cycle. The
    /// machine's device list keeps it alive, and each vCPU holds it strongly while it runs.
    private let listener = Mutex<WeakListener>(WeakListener())
    private let bootstrapKicker = Mutex<KVMKicker?>(nil)

    private struct WeakListener: @unchecked Sendable {
        // @unchecked: only read and written under the Mutex.
        weak var value: (any EndOfInterruptListener)?
    }

    var pic: (any ExternalInterruptController)? {
        get { picController.withLock { $0 } }
        set { picController.withLock { $0 = newValue } }
    }

    var endOfInterruptListener: (any EndOfInterruptListener)? {
        get { listener.withLock { $0.value } }
        set { listener.withLock { $0.value = newValue } }
    }

    func setBootstrapKicker(_ kicker: KVMKicker) { bootstrapKicker.withLock { $0 = kicker } }

    /// The PIC's INTR rose: the bootstrap vCPU must leave KVM_RUN to inject it (HLT blocks in the kernel).
    func kickBootstrap() { bootstrapKicker.withLock { $0 }?.kick() }
}
