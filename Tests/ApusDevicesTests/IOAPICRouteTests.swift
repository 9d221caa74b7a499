import ApusCore
import ApusDevices
import Synchronization
import Testing

/// What a backend with its own LAPICs (KVM's split irqchip) hears from the IOAPIC: every pin's MSI, whenever the
/// guest changes one and after a restore, and before the messages that change may send.
@Suite struct IOAPICRouteTests {
    final class Recorder: MSISink, @unchecked Sendable {
        // @unchecked: `events` is a Mutex.
        let events = Mutex<[String]>([])
        let routes = Mutex<[[MSIMessage]]>([])
        func deliver(_ message: MSIMessage) -> Bool {
            events.withLock { $0.append("msi \(message.vector)") }
            return true
        }
        func routesChanged(_ new: [MSIMessage]) {
            routes.withLock { $0.append(new) }
            events.withLock { $0.append("routes") }
        }
    }

    func select(_ ioapic: IOAPIC, _ register: UInt32) { ioapic.write(offset: 0, size: 4, value: UInt64(register)) }

    @Test func reprogrammingAPinReportsEveryRoute() throws {
        let recorder = Recorder()
        let ioapic = IOAPIC(sink: recorder) { recorder.routesChanged($0) }
        select(ioapic, 0x10 + 2 * 4 + 1)
        ioapic.write(offset: 0x10, size: 4, value: 0x0100_0000)          // destination APIC 1
        select(ioapic, 0x10 + 2 * 4)
        ioapic.write(offset: 0x10, size: 4, value: 0x8000 | 0x52)        // level, vector 0x52, unmasked
        let reported = recorder.routes.withLock { $0 }
        #expect(reported.count == 2, "one report per change of an entry, none for IOREGSEL")
        let last = try #require(reported.last)
        #expect(last.count == IOAPICState.pinCount)
        #expect(last[4] == MSIMessage(vector: 0x52, destination: 1, levelTriggered: true))
        #expect(last[3] == MSIMessage(vector: 0, destination: 0), "untouched pins report their reset entry")

        // Writing the same value again changes nothing, so nothing is reported.
        ioapic.write(offset: 0x10, size: 4, value: 0x8000 | 0x52)
        #expect(recorder.routes.withLock { $0.count } == 2)
        // Masking keeps the vector and trigger: an EOI for it may still be due.
        ioapic.write(offset: 0x10, size: 4, value: 0x1_8000 | 0x52)
        #expect(recorder.routes.withLock { $0.count } == 2, "the mask bit is not part of the message")
    }

    @Test func theRouteIsReportedBeforeAnUnmaskDeliversTheLevel() {
        let recorder = Recorder()
        let ioapic = IOAPIC(sink: recorder) { recorder.routesChanged($0) }
        try? ioapic.line(7).setLevel(true)
        select(ioapic, 0x10 + 2 * 7)
        ioapic.write(offset: 0x10, size: 4, value: 0x8000 | 0x61)
        #expect(recorder.events.withLock { $0 } == ["routes", "msi 97"])
    }

    @Test func aRestoreReportsTheRestoredRoutes() throws {
        let recorder = Recorder()
        let ioapic = IOAPIC(sink: recorder) { recorder.routesChanged($0) }
        var state = IOAPICState()
        state.redirection[9] = 0x0200_0000_0000_0000 | 0x8000 | 0x40
        try ioapic.restoreState(state)
        let last = try #require(recorder.routes.withLock { $0.last })
        #expect(last[9] == MSIMessage(vector: 0x40, destination: 2, levelTriggered: true))
    }
}
