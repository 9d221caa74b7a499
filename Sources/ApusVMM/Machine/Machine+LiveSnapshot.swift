public import Foundation

/// How a live snapshot went: the rounds copied while the guest ran, and how long it was paused.
public struct LiveSnapshotReport: Sendable, Equatable {
    /// Rounds of changed pages copied while the guest ran, after the first full copy.
    public var rounds: Int
    /// Pages copied again after the first full copy, the final ones included.
    public var pagesRecopied: Int
    /// Pages copied while the guest was paused.
    public var finalPages: Int
    /// How long the guest was paused (zero when it was paused before and stays paused).
    public var downtime: Duration
    public var total: Duration
}

/// One step of a live snapshot, for progress output.
public struct LiveSnapshotProgress: Sendable, Equatable {
    /// 0 for the first full copy, then 1, 2, ...
    public var round: Int
    /// Pages written since the previous round, still to copy.
    public var pagesLeft: Int
}

extension Machine {
    /// Writes the machine into `directory` as `suspend(to:)` does — the same format, restored by `restore(from:)` —
    /// but while the guest runs: memory is copied whole, then the pages written meanwhile are copied again, round
    /// after round, until at most `stopCopyPages` are left or `maxRounds` rounds were made; then the guest is paused
    /// just long enough to copy the rest and capture vCPUs and devices, and resumed (unless `leavePaused`, which is
    /// what a migration's source wants). A failure leaves the directory's previous snapshot as it was and resumes
    /// the guest if it paused it.
    public func snapshotLive(to directory: URL, maxRounds: Int = 8, stopCopyPages: Int = 1024,
                             leavePaused: Bool = false,
                             progress: (LiveSnapshotProgress) -> Void = { _ in }) throws -> LiveSnapshotReport {
        let clock = ContinuousClock()
        let started = clock.now
        let tracker = try startDirtyPageTracking()
        defer { try? stopDirtyPageTracking() }
        let files = try MemoryFiles(memory: parts.memory, directory: directory.path)
        var report = LiveSnapshotReport(rounds: 0, pagesRecopied: 0, finalPages: 0, downtime: .zero, total: .zero)
        let pausedByUs: Bool
        do {
            progress(LiveSnapshotProgress(round: 0, pagesLeft: parts.memory.regions.reduce(0) {
                $0 + Int($1.range.size) / MemoryFiles.pageSize
            }))
            try files.copyEverything(from: parts.memory)
            var dirty = try tracker.takeDirtyPages()
            while dirty.count > stopCopyPages && report.rounds < maxRounds && !isPaused {
                report.rounds += 1
                progress(LiveSnapshotProgress(round: report.rounds, pagesLeft: dirty.count))
                try files.copy(pages: dirty, from: parts.memory)
                report.pagesRecopied += dirty.count
                dirty = try tracker.takeDirtyPages()
            }
            pausedByUs = !isPaused
            let pauseStarted = clock.now
            if pausedByUs { try pause() }
            do {
                // With every vCPU parked nothing writes: this take holds the last changes.
                let last = Set(dirty).union(try tracker.takeDirtyPages()).sorted()
                try files.copy(pages: last, from: parts.memory)
                report.finalPages = last.count
                report.pagesRecopied += last.count
                let snapshot = try captureSnapshot()
                if pausedByUs && !leavePaused { try resume() }
                report.downtime = pausedByUs && !leavePaused ? clock.now - pauseStarted : .zero
                try files.finish()
                try SnapshotDirectory.commit(snapshot, memoryFiles: files)
            } catch {
                if pausedByUs && !leavePaused && isPaused { try? resume() }
                throw error
            }
        } catch {
            files.discard()
            throw error
        }
        report.total = clock.now - started
        return report
    }
}
