import ApusCore
import Synchronization
import Testing

/// The interrupt seam: MSI encoding as the SDM lays it out, the APIC bus's destination decoding and EOI broadcast,
/// and GSI routing that refuses unroutable GSIs.
@Suite struct InterruptSeamTests {
    final class Acceptor: InterruptAcceptor {
        let id: UInt32
        let priority: UInt8
        let received = Mutex<[InterruptRequest]>([])
        init(id: UInt32, priority: UInt8 = 0) {
            self.id = id
            self.priority = priority
        }
        func isAddressed(by destination: UInt32, logical: Bool) -> Bool {
            logical ? destination & (1 << id) != 0 : destination == id || destination == 0xFF
        }
        var arbitrationPriority: UInt8 { priority }
        func accept(_ request: InterruptRequest) { received.withLock { $0.append(request) } }
        var vectors: [UInt8] { received.withLock { $0.map(\.vector) } }
    }

    final class Listener: EndOfInterruptListener {
        let vectors = Mutex<[UInt8]>([])
        func endOfInterrupt(vector: UInt8) { vectors.withLock { $0.append(vector) } }
    }

    @Test func msiFieldsSitWhereTheSDMPutsThem() {
        let message = MSIMessage(vector: 0x41, deliveryMode: .lowestPriority, destination: 0x12, logicalDestination: true,
                                 redirectionHint: true, levelTriggered: true)
        #expect(message.address == 0xFEE1_200C)
        #expect(message.data == 0xC141)
        #expect(message.destinationID == 0x12 && message.logicalDestination && message.redirectionHint)
        #expect(message.vector == 0x41 && message.deliveryMode == .lowestPriority && message.levelTriggered && message.assert)
        #expect(MSIMessage(address: 0xFEE0_0000, data: 0x0300).deliveryMode == nil)   // mode 3 is reserved
    }

    @Test func theBusDecodesDestinationsAndDropsMalformedMessages() {
        let bus = InterruptBus()
        let cpus = [Acceptor(id: 0), Acceptor(id: 1), Acceptor(id: 2)]
        for cpu in cpus { bus.register(cpu) }
        #expect(bus.deliver(MSIMessage(vector: 0x30, destination: 1)))
        #expect(bus.deliver(MSIMessage(vector: 0x31, destination: 0b101, logicalDestination: true)))
        #expect(bus.deliver(MSIMessage(vector: 0x32, destination: 0xFF)))
        #expect(!bus.deliver(MSIMessage(address: 0xFED0_0000, data: 0x33)), "outside the MSI window")
        #expect(!bus.deliver(MSIMessage(address: 0xFEE0_0000, data: 0x0334)), "reserved delivery mode")
        #expect(cpus[0].vectors == [0x31, 0x32])
        #expect(cpus[1].vectors == [0x30, 0x32])
        #expect(cpus[2].vectors == [0x31, 0x32])
    }

    @Test func lowestPriorityPicksOneAcceptorAndShorthandsFollowTheICR() {
        let bus = InterruptBus()
        let cpus = [Acceptor(id: 0, priority: 0x20), Acceptor(id: 1, priority: 0x10)]
        for cpu in cpus { bus.register(cpu) }
        bus.deliver(MSIMessage(vector: 0x40, deliveryMode: .lowestPriority, destination: 0b11, logicalDestination: true))
        #expect(cpus[0].vectors == [] && cpus[1].vectors == [0x40])
        bus.deliver(InterruptRequest(vector: 0x50), from: cpus[0], shorthand: .selfOnly)
        bus.deliver(InterruptRequest(vector: 0x51), from: cpus[0], shorthand: .allExcludingSelf)
        bus.deliver(InterruptRequest(vector: 0x52), from: cpus[0], shorthand: .allIncludingSelf)
        #expect(cpus[0].vectors == [0x50, 0x52])
        #expect(cpus[1].vectors == [0x40, 0x51, 0x52])
    }

    @Test func endsOfInterruptReachEveryListenerUntilDisconnected() {
        let bus = InterruptBus()
        let listener = Listener()
        bus.register(listener)
        bus.broadcastEndOfInterrupt(vector: 0x61)
        bus.disconnectAll()
        bus.broadcastEndOfInterrupt(vector: 0x62)
        #expect(listener.vectors.withLock { $0 } == [0x61])
    }

    final class Recorder: InterruptLine {
        let levels = Mutex<[Bool]>([])
        func setLevel(_ asserted: Bool) { levels.withLock { $0.append(asserted) } }
    }

    @Test func routingFansOutAndRefusesUnroutableGSIs() throws {
        let pic = Recorder(), ioapic = Recorder()
        var routing = GSIRouting()
        routing.connect(0, to: pic)
        routing.connect(0, to: ioapic)
        try routing.line(0).pulse()
        #expect(pic.levels.withLock { $0 } == [true, false] && ioapic.levels.withLock { $0 } == [true, false])
        #expect(throws: InterruptRoutingError.unroutable(gsi: 16)) { try routing.line(16) }
        #expect(routing.routedGSIs == [0])
    }
}
