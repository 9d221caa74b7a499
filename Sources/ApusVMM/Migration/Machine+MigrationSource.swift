import ApusCore
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a migration went, from the source's side.
public struct MigrationReport: Sendable, Equatable {
    /// Rounds of changed pages sent while the guest ran, after the first full pass.
    public var rounds: Int
    /// Pages sent with their bytes (all rounds, the final one included).
    public var pagesSent: Int
    /// Pages sent as "zero" (address only), or skipped in the first pass because the target starts zeroed.
    public var zeroPages: Int
    /// Pages sent while the guest was paused.
    public var finalPages: Int
    /// From the pause on the source to the target's report that it runs.
    public var downtime: Duration
    public var total: Duration
}

extension Machine {
    /// Sends this machine to a target (`Machine.receiveMigration`) over the connected stream socket `fd`: pre-copy
    /// rounds of the pages written meanwhile while the guest runs, until at most `stopCopyPages` are left or after
    /// `maxRounds`; then a pause, the last pages and the vCPU and device state, and a two-phase commit. Until the
    /// target says it is ready, any failure resumes the guest here and throws: the source stays the one running
    /// copy. Once the target is ready this side sends `commit` and stays paused — the caller stops it — and if the
    /// target's "running" never arrives this throws without resuming, since the target may already run.
    public func migrate(over fd: Int32, maxRounds: Int = 8, stopCopyPages: Int = 1024,
                        progress: (LiveSnapshotProgress) -> Void = { _ in }) throws -> MigrationReport {
        let clock = ContinuousClock()
        let started = clock.now
        let channel = MigrationChannel(fd: fd)
        var report = MigrationReport(rounds: 0, pagesSent: 0, zeroPages: 0, finalPages: 0, downtime: .zero, total: .zero)
        let memory = parts.memory
        let hello = MigrationHello(formatVersion: MigrationChannel.formatVersion, regions: memory.regions.map {
            .init(start: $0.range.start.rawValue, size: $0.range.size)
        })
        try channel.send(.hello, [UInt8](try JSONEncoder().encode(hello)))
        let tracker = try startDirtyPageTracking()
        defer { try? stopDirtyPageTracking() }

        let everyPage = memory.regions.flatMap { region in
            stride(from: region.range.start.rawValue, to: region.range.end, by: 4096).map { GuestAddress($0) }
        }
        progress(LiveSnapshotProgress(round: 0, pagesLeft: everyPage.count))
        try send(everyPage, over: channel, firstPass: true, into: &report)
        var dirty = try tracker.takeDirtyPages()
        while dirty.count > stopCopyPages && report.rounds < maxRounds {
            report.rounds += 1
            progress(LiveSnapshotProgress(round: report.rounds, pagesLeft: dirty.count))
            try send(dirty, over: channel, firstPass: false, into: &report)
            dirty = try tracker.takeDirtyPages()
        }

        let pausedByUs = !isPaused
        let pauseStarted = clock.now
        if pausedByUs { try pause() }
        do {
            let last = Set(dirty).union(try tracker.takeDirtyPages()).sorted()
            let sentBefore = report.pagesSent + report.zeroPages
            try send(last, over: channel, firstPass: false, into: &report)
            report.finalPages = report.pagesSent + report.zeroPages - sentBefore
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try channel.send(.state, [UInt8](try encoder.encode(try captureSnapshot())))
            let (reply, payload) = try channel.receive()
            switch reply {
            case .ready: break
            case .abort: throw MigrationError.aborted(String(decoding: payload, as: UTF8.self))
            default: throw MigrationError.protocolError("expected ready from the target, got \(reply)")
            }
        } catch {
            if pausedByUs { try? resume() }
            throw error
        }
        // The commit point: from here on the target may run, so this copy must not.
        try channel.send(.commit)
        let (reply, _) = try channel.receive()
        guard reply == .running else {
            throw MigrationError.protocolError("the target answered the commit with \(reply); the source stays paused")
        }
        report.downtime = clock.now - pauseStarted
        report.total = clock.now - started
        return report
    }

    private static let zeroPage = [UInt8](repeating: 0, count: 4096)

    private static func isZeroPage(_ bytes: UnsafeRawBufferPointer) -> Bool {
        zeroPage.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, 4096) == 0 }
    }

    /// Sends `pages` in batches; all-zero pages go as addresses only (or not at all in the first pass: the target's
    /// memory starts zeroed).
    private func send(_ pages: [GuestAddress], over channel: MigrationChannel, firstPass: Bool,
                      into report: inout MigrationReport) throws {
        let batchPages = 64
        var batch = [UInt8]()
        batch.reserveCapacity(batchPages * (8 + 4096))
        var zeros = [UInt8]()
        for page in pages {
            guard let region = parts.memory.regions.first(where: { $0.range.contains(page) }) else { continue }
            let bytes = UnsafeRawBufferPointer(start: region.hostBase + Int(page.rawValue - region.range.start.rawValue),
                                               count: 4096)
            if Self.isZeroPage(bytes) {
                report.zeroPages += 1
                if !firstPass { withUnsafeBytes(of: page.rawValue.littleEndian) { zeros += $0 } }
                continue
            }
            withUnsafeBytes(of: page.rawValue.littleEndian) { batch += $0 }
            batch += bytes
            report.pagesSent += 1
            if batch.count >= batchPages * (8 + 4096) {
                try channel.send(.pages, batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { try channel.send(.pages, batch) }
        if !zeros.isEmpty { try channel.send(.zeroPages, zeros) }
    }
}
