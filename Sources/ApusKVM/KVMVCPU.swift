public import ApusCore
import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// One KVM vCPU (the vCPU file descriptor and its shared `kvm_run` page).
///
/// Create it on the OS thread that will run it: the initializer records that thread for kicks (and unblocks the kick
/// signal there), and KVM expects every ioctl on a vCPU fd to come from one thread. The guest sees the host's
/// supported CPUID, edited only in `KVMMachine.filter` and, per vCPU, for its place in the topology.
public final class KVMVCPU: VCPUBackend {
    public let index: Int
    let fd: Int32
    let runArea: UnsafeMutablePointer<kvm_run>
    private let runSize: Int
    let kvmKicker: KVMKicker
    // Keeps the VM fd open as long as a vCPU uses it.
    let machine: KVMMachine
    /// Split irqchip: the VMM's 8259A pair, whose INTR this vCPU (the bootstrap processor) takes through LINT0.
    private let pic: (any ExternalInterruptController)?
    /// Split irqchip: the VMM's IOAPIC, told of each EOI of one of its level-triggered vectors.
    private let endOfInterruptListener: (any EndOfInterruptListener)?

    init(machine: KVMMachine, index: Int, pic: (any ExternalInterruptController)? = nil,
         endOfInterruptListener: (any EndOfInterruptListener)? = nil) throws {
        try KickSignal.prepareCurrentThread()
        self.machine = machine
        self.index = index
        self.pic = pic
        self.endOfInterruptListener = endOfInterruptListener
        let fd = try checked("KVM_CREATE_VCPU") { ckvm_create_vcpu(machine.fd, UInt(index)) }
        self.fd = fd
        runSize = machine.runSize
        let mapped = mmap(nil, runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            let code = errno
            close(fd)
            throw KVMError.mmap(errno: code)
        }
        runArea = mapped.assumingMemoryBound(to: kvm_run.self)
        kvmKicker = KVMKicker(run: runArea, thread: pthread_self())
        do {
            let cpuid = machine.cpuid(forVCPU: index)
            _ = try checked("KVM_SET_CPUID2") { ckvm_set_cpuid2(fd, cpuid.table) }
        } catch {
            kvmKicker.retire()
            munmap(mapped, runSize)
            close(fd)
            throw error
        }
    }

    deinit {
        kvmKicker.retire()
        munmap(UnsafeMutableRawPointer(runArea), runSize)
        close(fd)
    }

    public var kicker: any VCPUKicker { kvmKicker }

    /// The hot path: one KVM_RUN and a switch over kvm_run, with no allocation and no locks but the 8259A's on the
    /// bootstrap vCPU of a machine with one (a String is built only for exits that end the run with an error). Exits
    /// only the interrupt plumbing cares about (an IOAPIC EOI, an interrupt window) are handled here and the guest
    /// re-entered.
    public func run() throws -> VCPUExit {
        while true {
            if let pic { offerExternalInterrupt(from: pic) }
            if ckvm_run(fd) < 0 {
                let code = errno
                // EINTR: a kick's signal arrived during KVM_RUN, or immediate_exit was already set when it was entered.
                guard code == EINTR || code == EAGAIN else { throw KVMError.ioctl(name: "KVM_RUN", errno: code) }
                ckvm_run_set_immediate_exit(runArea, 0)
                return .interrupted
            }
            switch Int32(bitPattern: ckvm_run_exit_reason(runArea)) {
            case KVM_EXIT_IOAPIC_EOI:
                endOfInterruptListener?.endOfInterrupt(vector: ckvm_run_eoi_vector(runArea))
            case KVM_EXIT_IRQ_WINDOW_OPEN:
                continue
            default:
                return try decodeExit()
            }
        }
    }

    /// The 8259A's virtual wire on the split irqchip: an interrupt the PIC requests is acknowledged (its INTA cycle)
    /// and queued with KVM_INTERRUPT only when KVM says the vCPU can take it now (IF set, LINT0 in ExtINT mode, no
    /// event pending); otherwise KVM is asked to exit when it can. KVM refusing a queued vector (one already waits)
    /// leaves it to the next entry.
    private func offerExternalInterrupt(from pic: any ExternalInterruptController) {
        guard pic.pendingInterrupt else {
            ckvm_run_set_request_interrupt_window(runArea, 0)
            return
        }
        guard ckvm_run_ready_for_interrupt_injection(runArea) != 0 else {
            ckvm_run_set_request_interrupt_window(runArea, 1)
            return
        }
        ckvm_run_set_request_interrupt_window(runArea, 0)
        if let vector = pic.acknowledge() { _ = ckvm_interrupt(fd, UInt32(vector)) }
    }

    private func decodeExit() throws -> VCPUExit {
        switch Int32(bitPattern: ckvm_run_exit_reason(runArea)) {
        case KVM_EXIT_IO:
            let io = runArea.pointee.io
            let size = Int(io.size)
            let count = Int(io.count)
            let data = UnsafeMutableRawBufferPointer(start: ckvm_run_io_data(runArea), count: size * count)
            return .portIO(PortIOExit(port: io.port, size: size, count: count,
                                      direction: io.direction == UInt8(KVM_EXIT_IO_IN) ? .read : .write, data: data))
        case KVM_EXIT_MMIO:
            let mmio = runArea.pointee.mmio
            let size = Int(min(mmio.len, 8))
            return .mmio(MMIOExit(address: GuestAddress(mmio.phys_addr), size: size,
                                  direction: mmio.is_write != 0 ? .write : .read,
                                  data: UnsafeMutableRawBufferPointer(start: ckvm_run_mmio_data(runArea), count: size)))
        case KVM_EXIT_HLT:
            return .halt
        case KVM_EXIT_SHUTDOWN:
            return .shutdown
        case KVM_EXIT_INTR:
            ckvm_run_set_immediate_exit(runArea, 0)
            return .interrupted
        case KVM_EXIT_SYSTEM_EVENT:
            switch Int32(bitPattern: runArea.pointee.system_event.type) {
            case KVM_SYSTEM_EVENT_SHUTDOWN: return .systemEvent(.shutdown)
            case KVM_SYSTEM_EVENT_RESET: return .systemEvent(.reset)
            default: return .systemEvent(.crash)
            }
        case KVM_EXIT_INTERNAL_ERROR:
            let failure = runArea.pointee.`internal`
            let words = (0..<min(failure.ndata, 16)).map { "0x" + String(ckvm_run_internal_data(runArea, $0), radix: 16) }
            return .internalError("KVM_EXIT_INTERNAL_ERROR suberror \(failure.suberror)"
                                  + (words.isEmpty ? "" : ", data \(words.joined(separator: " "))")
                                  + (failure.suberror == 1 ? " (the host could not emulate an instruction)" : ""))
        case KVM_EXIT_FAIL_ENTRY:
            let reason = runArea.pointee.fail_entry.hardware_entry_failure_reason
            return .failedEntry("KVM_EXIT_FAIL_ENTRY, hardware reason 0x\(String(reason, radix: 16))")
        case let other:
            return .internalError("unexpected KVM exit reason \(other)")
        }
    }
}
