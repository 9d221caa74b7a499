public import ApusCore
import CKVM

/// Interrupt delivery and eventfd shortcuts on the VM fd.
extension KVMMachine {
    static let inKernelIOAPICPins: UInt32 = 24

    /// GSIs 0-23: the in-kernel IOAPIC's pins (0-15 also reach the in-kernel PIC).
    public func interruptLine(_ gsi: UInt32) throws -> any InterruptLine {
        guard options.interruptController == .full else {
            // No in-kernel irqchip was created, and KVM_IRQ_LINE without one fails with ENXIO. A machine without an
            // interrupt controller is a board without a PIC: the line goes nowhere and HLT leaves run() as `.halt`.
            return DisconnectedInterruptLine()
        }
        guard gsi < Self.inKernelIOAPICPins else { throw InterruptRoutingError.unroutable(gsi: gsi) }
        return KVMInterruptLine(vmFD: fd, gsi: gsi)
    }

    /// Splits the irqchip: LAPICs in the kernel, PIC and IOAPIC in user space with `ioapicPins` routes
    /// (KVM_ENABLE_CAP KVM_CAP_SPLIT_IRQCHIP). Only on a machine made with `.none`, before any vCPU exists.
    public func enableSplitIRQChip(ioapicPins: UInt64 = 24) throws {
        _ = try checked("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)") { ckvm_enable_split_irqchip(fd, ioapicPins) }
    }

    /// Injects a message-signalled interrupt (for PCI devices with MSI).
    public func signalMSI(address: UInt64, data: UInt32) throws {
        var message = kvm_msi()
        message.address_lo = UInt32(truncatingIfNeeded: address)
        message.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        message.data = data
        _ = try checked("KVM_SIGNAL_MSI") { ckvm_signal_msi(fd, &message) }
    }

    /// MSIs through KVM_SIGNAL_MSI into the in-kernel local APICs (only with the in-kernel irqchip).
    public var messageSignalledInterrupts: (any MSISink)? {
        options.interruptController == .full ? KVMMSISink(vmFD: fd) : nil
    }

    /// Makes a write to `eventFD` raise `gsi` inside the kernel, without waking any VMM thread (KVM_IRQFD).
    public func attachIRQFD(_ eventFD: Int32, gsi: UInt32) throws {
        var request = kvm_irqfd()
        request.fd = UInt32(bitPattern: eventFD)
        request.gsi = gsi
        _ = try checked("KVM_IRQFD") { ckvm_irqfd(fd, &request) }
    }

    public func detachIRQFD(_ eventFD: Int32, gsi: UInt32) throws {
        var request = kvm_irqfd()
        request.fd = UInt32(bitPattern: eventFD)
        request.gsi = gsi
        request.flags = CKVM_IRQFD_FLAG_DEASSIGN
        _ = try checked("KVM_IRQFD") { ckvm_irqfd(fd, &request) }
    }

    /// Where an ioeventfd listens.
    public enum IOEventAddress: Sendable, Equatable {
        case port(UInt16)
        case mmio(GuestAddress)
    }

    /// Makes a guest write of `length` bytes (1, 2, 4 or 8; 0 = any) at `address` signal `eventFD` instead of
    /// leaving KVM_RUN; with `matching`, only writes of that value do (KVM_IOEVENTFD).
    public func attachIOEventFD(_ eventFD: Int32, at address: IOEventAddress, length: UInt32,
                                matching value: UInt64? = nil) throws {
        var request = Self.ioEventRequest(eventFD, at: address, length: length, matching: value)
        _ = try checked("KVM_IOEVENTFD") { ckvm_ioeventfd(fd, &request) }
    }

    public func detachIOEventFD(_ eventFD: Int32, at address: IOEventAddress, length: UInt32,
                                matching value: UInt64? = nil) throws {
        var request = Self.ioEventRequest(eventFD, at: address, length: length, matching: value)
        request.flags |= CKVM_IOEVENTFD_FLAG_DEASSIGN
        _ = try checked("KVM_IOEVENTFD") { ckvm_ioeventfd(fd, &request) }
    }

    private static func ioEventRequest(_ eventFD: Int32, at address: IOEventAddress, length: UInt32,
                                       matching value: UInt64?) -> kvm_ioeventfd {
        var request = kvm_ioeventfd()
        request.fd = eventFD
        request.len = length
        switch address {
        case .port(let port):
            request.addr = UInt64(port)
            request.flags = CKVM_IOEVENTFD_FLAG_PIO
        case .mmio(let guestAddress):
            request.addr = guestAddress.rawValue
        }
        if let value {
            request.datamatch = value
            request.flags |= CKVM_IOEVENTFD_FLAG_DATAMATCH
        }
        return request
    }
}

/// An input pin of KVM's in-kernel irqchip (KVM_IRQ_LINE).
struct KVMInterruptLine: InterruptLine {
    let vmFD: Int32
    let gsi: UInt32

    func setLevel(_ asserted: Bool) {
        // Fails only when the VM is being torn down; a device has no one to report that to.
        _ = ckvm_irq_line(vmFD, gsi, asserted ? 1 : 0)
    }
}

/// An MSI injected with KVM_SIGNAL_MSI; one the kernel refuses (outside the MSI window) is dropped, as a chipset drops
/// such a write.
struct KVMMSISink: MSISink {
    let vmFD: Int32

    @discardableResult
    func deliver(_ message: MSIMessage) -> Bool {
        guard message.isWellFormed else { return false }
        var request = kvm_msi()
        request.address_lo = UInt32(truncatingIfNeeded: message.address)
        request.address_hi = UInt32(truncatingIfNeeded: message.address >> 32)
        request.data = message.data
        return ckvm_signal_msi(vmFD, &request) >= 0
    }
}
