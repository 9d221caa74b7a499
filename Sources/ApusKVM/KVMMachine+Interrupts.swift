public import ApusCore
import CKVM

/// Interrupt delivery and eventfd shortcuts on the VM fd. With `.full` interrupt control the machine runs KVM's split
/// irqchip: each vCPU's local APIC is in the kernel, and the VMM's 8259A pair, IOAPIC and 8254 (the same Swift objects
/// the software CPU uses) reach it through KVM_SIGNAL_MSI, KVM_INTERRUPT and the IOAPIC EOI exit.
extension KVMMachine {
    /// The IOAPIC pins KVM reserves GSIs (and MSI routes) for: its EOI-exit bitmap covers these routes only.
    static let ioapicPins: UInt32 = 24   // the VMM's IOAPIC (IOAPICState.pinCount)

    /// Without an interrupt controller a line goes nowhere (a board without a PIC: HLT leaves run() as `.halt`).
    /// With one, the VMM routes lines itself; asked anyway, the connected 8259A's input answers, as on the software
    /// CPU.
    public func interruptLine(_ gsi: UInt32) throws -> any InterruptLine {
        guard options.interruptController == .full, let pic = links.pic else { return DisconnectedInterruptLine() }
        return try pic.line(Int(gsi))
    }

    public var needsExternalInterruptController: Bool { options.interruptController == .full }
    public var keepsLocalAPICsOnly: Bool { options.interruptController == .full }

    public func connect(_ controller: any ExternalInterruptController) { links.pic = controller }

    public func connect(endOfInterruptListener: any EndOfInterruptListener) {
        links.endOfInterruptListener = endOfInterruptListener
    }

    /// The 8259A's INTR rose: the bootstrap vCPU leaves KVM_RUN (where HLT sleeps) and injects it on re-entry.
    public func externalInterruptRaised() { links.kickBootstrap() }

    /// KVM_SIGNAL_MSI into the in-kernel LAPICs.
    public var msiSink: (any MSISink)? {
        options.interruptController == .full ? KVMMSISink(machine: self) : nil
    }

    /// One MSI route per IOAPIC pin (KVM_SET_GSI_ROUTING). KVM derives from them which vectors are level-triggered
    /// IOAPIC vectors whose EOI must leave KVM_RUN (KVM_EXIT_IOAPIC_EOI), so the table follows the redirection
    /// table. A refusal is logged: the guest would then miss re-deliveries of level interrupts.
    public func ioapicRoutesChanged(_ routes: [MSIMessage]) {
        do {
            try setMSIRoutes(routes)
        } catch {
            diagnostics.withLock { $0 }?("IOAPIC routes not taken by KVM: \(error)")
        }
    }

    func setMSIRoutes(_ routes: [MSIMessage]) throws {
        let count = min(routes.count, Int(Self.ioapicPins))
        let low = routes.prefix(count).map { UInt32(truncatingIfNeeded: $0.address) }
        let high = routes.prefix(count).map { UInt32(truncatingIfNeeded: $0.address >> 32) }
        let data = routes.prefix(count).map(\.data)
        _ = try checked("KVM_SET_GSI_ROUTING") { ckvm_set_msi_routing(fd, UInt32(count), low, high, data) }
    }

    /// Injects a message-signalled interrupt (for PCI devices with MSI).
    public func signalMSI(address: UInt64, data: UInt32) throws {
        var message = kvm_msi()
        message.address_lo = UInt32(truncatingIfNeeded: address)
        message.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        message.data = data
        _ = try checked("KVM_SIGNAL_MSI") { ckvm_signal_msi(fd, &message) }
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

/// MSIs for KVM's in-kernel LAPICs. A message KVM refuses (outside the window, no such APIC) is dropped, as the
/// chipset drops such a write, and reported false.
struct KVMMSISink: MSISink {
    let machine: KVMMachine
    @discardableResult
    func deliver(_ message: MSIMessage) -> Bool {
        guard message.isWellFormed else { return false }
        return (try? machine.signalMSI(address: message.address, data: message.data)) != nil
    }
}
