import Synchronization

/// The APIC bus of one machine: routes MSIs and inter-processor interrupts to the vCPUs' local APICs and broadcasts
/// the EOIs of level-triggered vectors back to their sources. Acceptors and listeners are registered while the
/// machine is built; delivery happens on any thread and never holds the bus's lock while calling out.
public final class InterruptBus: MSISink, Sendable {
    private let acceptors = Mutex<[any InterruptAcceptor]>([])
    private let listeners = Mutex<[any EndOfInterruptListener]>([])

    public init() {}

    /// Adds vCPU `index`'s acceptor; indices are the order of registration.
    public func register(_ acceptor: any InterruptAcceptor) { acceptors.withLock { $0.append(acceptor) } }
    public func register(_ listener: any EndOfInterruptListener) { listeners.withLock { $0.append(listener) } }

    /// Forgets every acceptor and listener (they refer back to the bus): the machine's run is over.
    public func disconnectAll() {
        acceptors.withLock { $0 = [] }
        listeners.withLock { $0 = [] }
    }

    /// The xAPIC broadcast destination (physical 0xFF; in x2APIC mode 0xFFFF_FFFF).
    public static let broadcast: UInt32 = 0xFF

    @discardableResult
    public func deliver(_ message: MSIMessage) -> Bool {
        guard message.isWellFormed, let mode = message.deliveryMode else { return false }
        let request = InterruptRequest(vector: message.vector, deliveryMode: mode, levelTriggered: message.levelTriggered)
        deliver(request, to: UInt32(message.destinationID), logical: message.logicalDestination)
        return true
    }

    /// Sends `request` to every APIC `destination` addresses; lowest-priority delivery picks one of them.
    public func deliver(_ request: InterruptRequest, to destination: UInt32, logical: Bool) {
        let targets = acceptors.withLock { list in list.filter { $0.isAddressed(by: destination, logical: logical) } }
        send(request, to: targets)
    }

    /// An IPI with a destination shorthand (ICR bits 19:18): self, all including self, all excluding self.
    public func deliver(_ request: InterruptRequest, from sender: any InterruptAcceptor, shorthand: IPIShorthand) {
        let all = acceptors.withLock { $0 }
        switch shorthand {
        case .none: return
        case .selfOnly: send(request, to: [sender])
        case .allIncludingSelf: send(request, to: all)
        case .allExcludingSelf: send(request, to: all.filter { $0 !== sender })
        }
    }

    private func send(_ request: InterruptRequest, to targets: [any InterruptAcceptor]) {
        if request.deliveryMode == .lowestPriority {
            // Any of the addressed APICs may take it; the one with the lowest arbitration priority does.
            targets.min { $0.arbitrationPriority < $1.arbitrationPriority }?.accept(request)
            return
        }
        for target in targets { target.accept(request) }
    }

    /// A local APIC's EOI of a level-triggered vector.
    public func broadcastEndOfInterrupt(vector: UInt8) {
        for listener in listeners.withLock({ $0 }) { listener.endOfInterrupt(vector: vector) }
    }
}

/// ICR bits 19:18.
public enum IPIShorthand: UInt8, Sendable {
    case none = 0
    case selfOnly = 1
    case allIncludingSelf = 2
    case allExcludingSelf = 3
}
