import ApusCore
import ApusDevices
import ApusGuests
@testable import ApusVMM
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Pre-copy live migration between two machines over a Unix stream socket (a socketpair here; two daemons later).
@Suite struct MigrationTests {
    private func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    private func machine(_ name: String, on backend: BackendChoice, output: CapturingSerialOutput) throws -> Machine {
        let guest = try #require(BuiltInGuests.named(name))
        return try Machine(configuration: MachineConfiguration(
            memoryMiB: 64, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image)), output: output)
    }

    private func numbers(_ output: CapturingSerialOutput) -> [Int] {
        output.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap { Int($0) }
    }

    private func waitFor(lines: Int, in output: CapturingSerialOutput) {
        // A liveness bound, not a timing assertion.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && numbers(output).count < lines { Thread.sleep(forTimeInterval: 0.02) }
    }

    /// Runs the target side on its own thread; its machine (or error) is collected afterwards. `atCommit` sees the
    /// machine at the commit, before it resumes.
    private final class Target: Sendable {
        let result = Mutex<Result<Machine, any Error>?>(nil)
        let memoryAtCommit = Mutex<[Data]>([])
        let done = DispatchSemaphore(value: 0)
        init(fd: Int32, output: CapturingSerialOutput) {
            Thread { [self] in
                let outcome = Result {
                    try Machine.receiveMigration(over: fd, output: output) { machine in
                        memoryAtCommit.withLock { saved in
                            saved = machine.parts.memory.regions.map { Data(bytes: $0.hostBase, count: Int($0.range.size)) }
                        }
                        try machine.resume()
                    }
                }
                result.withLock { $0 = outcome }
                done.signal()
            }.start()
        }
        func machine() throws -> Machine {
            done.wait()
            return try result.withLock { $0! }.get()
        }
    }

    @Test func theCounterContinuesOnTheTargetAndTheSourceStaysPaused() throws {
        for backend in Backends.usable(for: "migration") {
            let (sourceEnd, targetEnd) = try socketPair()
            defer { close(sourceEnd); close(targetEnd) }
            let before = CapturingSerialOutput(), after = CapturingSerialOutput()
            let source = try machine("counter", on: backend, output: before)
            defer { source.stop(); _ = source.waitForOutcome() }
            try source.start()
            waitFor(lines: 5, in: before)

            let target = Target(fd: targetEnd, output: after)
            let report = try source.migrate(over: sourceEnd)
            let moved = try target.machine()
            defer { moved.stop(); _ = moved.waitForOutcome() }
            #expect(source.isPaused, "\(backend): the source must stay paused after the commit")
            let printedBefore = numbers(before)
            waitFor(lines: 3, in: after)
            let printedAfter = numbers(after)
            // The source printed up to the pause; the target goes on with the next number, registers and all.
            #expect(printedAfter.first == (printedBefore.last ?? 0) + 1,
                    "\(backend): the target started at \(printedAfter.first ?? -1) after \(printedBefore.last ?? -1)")
            #expect(printedAfter == Array(printedAfter.indices.map { printedAfter[0] + $0 }))
            #expect(report.pagesSent > 0 && report.zeroPages > 0,
                    "\(backend): a 64 MiB guest that uses little of it sends few pages")
            print("migration on \(backend): \(report.rounds) rounds, \(report.pagesSent) pages sent, "
                  + "\(report.zeroPages) zero pages not sent, \(report.finalPages) while paused, downtime "
                  + "\(report.downtime), total \(report.total)")
        }
    }

    @Test func memoryWrittenDuringTheRoundsArrivesExactly() throws {
        for backend in Backends.usable(for: "migration") {
            let (sourceEnd, targetEnd) = try socketPair()
            defer { close(sourceEnd); close(targetEnd) }
            let source = try machine("memchurn", on: backend, output: CapturingSerialOutput())
            defer { source.stop(); _ = source.waitForOutcome() }
            try source.start()
            Thread.sleep(forTimeInterval: 0.2)
            let target = Target(fd: targetEnd, output: CapturingSerialOutput())
            let report = try source.migrate(over: sourceEnd, maxRounds: 3, stopCopyPages: 16)
            let moved = try target.machine()
            moved.stop()
            _ = moved.waitForOutcome()
            // The target's memory at the commit is the source's at its pause, byte for byte.
            let arrived = target.memoryAtCommit.withLock { $0 }
            let sent = source.parts.memory.regions.map { Data(bytes: $0.hostBase, count: Int($0.range.size)) }
            #expect(arrived.count == sent.count && arrived == sent,
                    "\(backend): the target's memory differs from the paused source's")
            print("migration of memchurn on \(backend): \(report.rounds) rounds, \(report.pagesSent) pages sent, "
                  + "\(report.finalPages) while paused, downtime \(report.downtime)")
        }
    }

    @Test func aTargetThatGoesAwayLeavesTheSourceRunning() throws {
        for backend in Backends.usable(for: "migration") {
            let (sourceEnd, targetEnd) = try socketPair()
            defer { close(sourceEnd) }
            let output = CapturingSerialOutput()
            let source = try machine("counter", on: backend, output: output)
            defer { source.stop(); _ = source.waitForOutcome() }
            try source.start()
            waitFor(lines: 2, in: output)
            // The target reads the hello and a little more, then its end closes (a killed daemon).
            Thread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                _ = recv(targetEnd, &buffer, buffer.count, 0)
                close(targetEnd)
            }.start()
            #expect(throws: MigrationError.self) { try source.migrate(over: sourceEnd) }
            #expect(!source.isPaused, "\(backend): the source must run on when the target is gone")
            let printed = numbers(output).count
            waitFor(lines: printed + 2, in: output)
            #expect(numbers(output).count >= printed + 2, "\(backend): the source's guest stopped counting")
        }
    }

    @Test func aMalformedStreamIsRefusedWithAReason() throws {
        let (sourceEnd, targetEnd) = try socketPair()
        defer { close(sourceEnd); close(targetEnd) }
        let channel = MigrationChannel(fd: sourceEnd)
        try channel.send(.hello, Array("{\"formatVersion\": 1, \"regions\": [{\"start\": 0, \"size\": 4096}]}".utf8))
        // A page outside the layout the hello announced.
        var record = [UInt8](repeating: 0, count: 8 + 4096)
        withUnsafeBytes(of: UInt64(0x10_0000).littleEndian) { for i in 0..<8 { record[i] = $0[i] } }
        try channel.send(.pages, record)
        #expect(throws: GuestMemoryError.self) {
            try Machine.receiveMigration(over: targetEnd, output: CapturingSerialOutput())
        }
        let (type, reason) = try MigrationChannel(fd: sourceEnd).receive()
        #expect(type == .abort && !reason.isEmpty, "the refusal's reason goes back to the source")
    }

    @Test func aSourceAnnouncingMoreMemoryThanAMachineMayHaveIsRefused() throws {
        let (sourceEnd, targetEnd) = try socketPair()
        defer { close(sourceEnd); close(targetEnd) }
        try MigrationChannel(fd: sourceEnd).send(.hello, Array(
            "{\"formatVersion\": 1, \"regions\": [{\"start\": 0, \"size\": 1099511627776}]}".utf8))
        #expect(throws: MigrationError.self) {
            try Machine.receiveMigration(over: targetEnd, output: CapturingSerialOutput())
        }
        let (type, reason) = try MigrationChannel(fd: sourceEnd).receive()
        #expect(type == .abort && String(decoding: reason, as: UTF8.self).contains("1048576 MiB of RAM"))
    }
}
