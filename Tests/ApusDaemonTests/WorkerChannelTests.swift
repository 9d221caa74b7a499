@testable import ApusDaemon
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The daemon–worker channel: frames round-trip; oversized, truncated and malformed frames are errors; and a worker
/// process that sends one is killed and reaped while the daemon carries on.
@Suite struct WorkerChannelTests {
    private func pair() throws -> (WorkerChannel, Int32) {
        var descriptors: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &descriptors) == 0 else {
            throw SandboxFailure(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        return (WorkerChannel(descriptor: descriptors[0]), descriptors[1])
    }

    private func write(_ bytes: [UInt8], to descriptor: Int32) {
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    }

    private func frameHeader(_ length: UInt32) -> [UInt8] {
        [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
    }

    @Test func framesRoundTrip() throws {
        let (channel, other) = try pair()
        defer { close(channel.descriptor); close(other) }
        let peer = WorkerChannel(descriptor: other)
        try peer.send(WorkerReport.ended(.exited(code: 3)))
        try peer.send(WorkerReport.console(Data("hi\n".utf8)))
        guard case .ended(let outcome) = try channel.receive(WorkerReport.self) else { Issue.record("not ended"); return }
        #expect(outcome == .exited(code: 3))
        guard case .console(let bytes) = try channel.receive(WorkerReport.self) else { Issue.record("not console"); return }
        #expect(bytes == Data("hi\n".utf8))
    }

    @Test func hostileFramesAreErrors() throws {
        do {
            let (channel, other) = try pair()
            defer { close(channel.descriptor) }
            write(frameHeader(UInt32(WorkerProtocol.maximumFrame + 1)), to: other)
            close(other)
            #expect { _ = try channel.receive(WorkerReport.self) } throws: {
                if case WorkerChannel.Failure.oversized = $0 { return true } else { return false }
            }
        }
        do {
            let (channel, other) = try pair()
            defer { close(channel.descriptor) }
            write(frameHeader(100) + Array("{\"console\":".utf8), to: other)
            close(other)
            #expect { _ = try channel.receive(WorkerReport.self) } throws: {
                if case WorkerChannel.Failure.truncated(expected: 100, got: 11) = $0 { return true } else { return false }
            }
        }
        do {
            let (channel, other) = try pair()
            defer { close(channel.descriptor) }
            let garbage = Array("{\"launchMissiles\":{}}".utf8)
            write(frameHeader(UInt32(garbage.count)) + garbage, to: other)
            close(other)
            #expect { _ = try channel.receive(WorkerReport.self) } throws: {
                if case WorkerChannel.Failure.malformed = $0 { return true } else { return false }
            }
        }
        do {
            let (channel, other) = try pair()
            defer { close(channel.descriptor) }
            close(other)
            #expect { _ = try channel.receive(WorkerReport.self) } throws: {
                if case WorkerChannel.Failure.closed = $0 { return true } else { return false }
            }
        }
    }

    /// A real process stands in the worker's place and sends garbage: the daemon's side kills it, reaps it and
    /// reports "signal 9"; a request waiting for a reply fails instead of hanging.
    @Test func aWorkerThatBreaksTheProtocolIsKilledAndReaped() throws {
        let (channel, other) = try pair()
        var pid: pid_t = 0
        let arguments = ["/bin/sleep", "60"]
        var argv = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = [nil]
        defer { for pointer in argv { free(pointer) } }
        guard posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, &envp) == 0 else {
            print("skipped: cannot start /bin/sleep")
            return
        }
        let machine = WorkerMachine(pid: pid, channel: channel, vm: "test", name: "test", console: ConsoleHub())
        write(frameHeader(UInt32(WorkerProtocol.maximumFrame) * 4), to: other)
        #expect(machine.waitForOutcome() == .workerExited(how: "signal 9"))
        // Reaped: the pid is no child of ours any more.
        var status: Int32 = 0
        #expect(waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD)
        #expect(throws: DaemonError.self) { try machine.pause() }
        close(other)
    }
}
