@testable import ApusDaemon
import ApusAPI
import Testing

@Suite struct EventLogTests {
    @Test func sequencesGrowAndReplayResumesAfterTheLastSeen() async {
        let log = EventLog(firstSequence: 1)
        for index in 0..<5 { log.record(vm: "id", name: "vm\(index)", kind: .defined, state: .inactive, reason: nil) }
        #expect(log.lastSequence == 5)
        let subscription = log.subscribe(after: 3)
        log.record(vm: "id", name: "live", kind: .started, state: .active, reason: nil)
        var seen: [UInt64] = []
        for await event in subscription.events {
            seen.append(event.sequence)
            if seen.count == 3 { subscription.finish() }
        }
        #expect(seen == [4, 5, 6])
    }

    @Test func aRestartedDaemonNumbersAfterTheLastRun() {
        let earlier = EventLog()
        earlier.record(vm: "id", name: "n", kind: .defined, state: .inactive, reason: nil)
        let later = EventLog(firstSequence: EventLog.sequenceStartingNow() + 1)
        later.record(vm: "id", name: "n", kind: .started, state: .active, reason: nil)
        #expect(later.lastSequence > earlier.lastSequence)
    }

    @Test func keepsOnlyTheMostRecentEvents() async {
        let log = EventLog(firstSequence: 1)
        for _ in 0..<(EventLog.capacity + 10) { log.record(vm: "id", name: "n", kind: .paused, state: .paused, reason: nil) }
        let subscription = log.subscribe(after: 0)
        log.finishAll()
        var first: UInt64?
        var count = 0
        for await event in subscription.events {
            if first == nil { first = event.sequence }
            count += 1
        }
        #expect(first == 11)
        #expect(count == EventLog.capacity)
    }
}
