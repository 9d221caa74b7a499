/// Episodes of accept failing for want of descriptors (EMFILE and its kin), as the log reports them: one line when an
/// episode begins and one when an accept succeeds again, however many accepts failed in between (NIO's accept backoff
/// retries once a second). An episode that begins within `quietPeriod` of the last announced one is not announced, so
/// a daemon hovering at its limit logs one pair of lines per `quietPeriod` at most; the failures of unannounced
/// episodes are counted into the next announced episode's end. A pure state machine: the caller passes the time.
struct AcceptStarvation {
    enum Report: Equatable {
        /// An episode began (the first failed accept after a successful one).
        case began
        /// Accepting works again: `failures` accepts failed over `duration` since the last report of an end.
        case ended(failures: Int, duration: Duration)
    }

    static let quietPeriod = Duration.seconds(10)

    private var inEpisode = false
    private var announced = false
    private var lastAnnouncement: ContinuousClock.Instant?
    /// Failed accepts not yet told in an end line, and when the first of them happened.
    private var untold = 0
    private var untoldSince: ContinuousClock.Instant?

    /// Every failed accept so far.
    private(set) var totalFailures = 0

    var starving: Bool { inEpisode }

    mutating func acceptFailed(at now: ContinuousClock.Instant) -> Report? {
        totalFailures += 1
        untold += 1
        if untoldSince == nil { untoldSince = now }
        guard !inEpisode else { return nil }
        inEpisode = true
        announced = lastAnnouncement.map { now - $0 >= Self.quietPeriod } ?? true
        guard announced else { return nil }
        lastAnnouncement = now
        return .began
    }

    mutating func accepted(at now: ContinuousClock.Instant) -> Report? {
        guard inEpisode else { return nil }
        inEpisode = false
        guard announced, let since = untoldSince else { return nil }
        let report = Report.ended(failures: untold, duration: now - since)
        untold = 0
        untoldSince = nil
        return report
    }
}
