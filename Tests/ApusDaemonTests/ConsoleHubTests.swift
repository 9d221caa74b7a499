@testable import ApusDaemon
import Testing

@Suite struct ConsoleHubTests {
    @Test func backlogKeepsTheNewestBytesInOrder() {
        let hub = ConsoleHub()
        let total = ConsoleHub.capacity + 100
        for index in 0..<total { hub.transmit(UInt8(truncatingIfNeeded: index)) }
        let backlog = hub.backlog
        #expect(backlog.count == ConsoleHub.capacity)
        #expect(backlog.first == UInt8(truncatingIfNeeded: 100))
        #expect(backlog.last == UInt8(truncatingIfNeeded: total - 1))
    }

    @Test func aClientGetsTheBacklogThenLiveOutputInBatches() async {
        let hub = ConsoleHub()
        for byte in Array("boot\n".utf8) { hub.transmit(byte) }
        let subscription = hub.attach(replay: true)
        for byte in Array("live\n".utf8) { hub.transmit(byte) }
        var received: [UInt8] = []
        for await batch in subscription.batches {
            received += batch
            if received.count >= 10 { subscription.finish() }
        }
        #expect(String(decoding: received, as: UTF8.self) == "boot\nlive\n")
    }

    @Test func withoutReplayOnlyNewOutputArrives() async {
        let hub = ConsoleHub()
        for byte in Array("old".utf8) { hub.transmit(byte) }
        let subscription = hub.attach(replay: false)
        hub.transmit(UInt8(ascii: "n"))
        hub.detachAll()
        var received: [UInt8] = []
        for await batch in subscription.batches { received += batch }
        #expect(received == [UInt8(ascii: "n")])
    }
}
