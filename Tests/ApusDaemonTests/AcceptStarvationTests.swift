@testable import ApusDaemon
import Testing

/// Running out of descriptors is told once per episode, not once per failed accept, and a daemon hovering at its
/// limit cannot fill the log either.
@Suite struct AcceptStarvationTests {
    private let start = ContinuousClock.now

    private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

    @Test func anEpisodeIsToldOnceWhenItBeginsAndOnceWhenItEnds() {
        var starvation = AcceptStarvation()
        #expect(starvation.accepted(at: at(0)) == nil, "accepting while not starving reports nothing")
        #expect(starvation.acceptFailed(at: at(1)) == .began)
        #expect(starvation.starving)
        for second in 2...5 { #expect(starvation.acceptFailed(at: at(Double(second))) == nil) }
        #expect(starvation.accepted(at: at(5.5)) == .ended(failures: 5, duration: .milliseconds(4500)))
        #expect(!starvation.starving)
        #expect(starvation.accepted(at: at(6)) == nil)
        #expect(starvation.totalFailures == 5)
    }

    @Test func episodesSoonAfterAnAnnouncedOneAreCountedButNotAnnounced() {
        var starvation = AcceptStarvation()
        #expect(starvation.acceptFailed(at: at(0)) == .began)
        #expect(starvation.accepted(at: at(1)) == .ended(failures: 1, duration: .seconds(1)))
        // Flapping at the limit: failures and successes alternate every second for a while.
        for second in stride(from: 2, to: 10, by: 2) {
            #expect(starvation.acceptFailed(at: at(Double(second))) == nil)
            #expect(starvation.accepted(at: at(Double(second + 1))) == nil)
        }
        #expect(starvation.totalFailures == 5)
        // Ten seconds after the last announcement an episode is told again, with the failures not told yet.
        #expect(starvation.acceptFailed(at: at(10)) == .began)
        #expect(starvation.acceptFailed(at: at(11)) == nil)
        #expect(starvation.accepted(at: at(12)) == .ended(failures: 6, duration: .seconds(10)))
    }
}
