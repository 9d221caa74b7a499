// apus-bench-migrate: pre-copy live migration and snapshots of a 256 MiB guest, machine to machine in one process over
// a Unix socketpair (the VMM's half of issue 16; two daemons add their API on top), on every backend usable here:
//   idle      the `counter` guest (prints a number now and then; nearly all of its memory is zero)
//   memfill   the `memfill` guest after it has written 248 MiB (then it spins: memory full, nothing changing)
//   memchurn  the `memchurn` guest rewriting 32 MiB all the time (the dirtying case)
// For each: total time, downtime (source paused -> target running), pages sent with their bytes, zero pages not
// sent, rounds; then the time to write that guest's live snapshot and to restore it from disk. Goals (issue 16):
// downtime <= 50 ms for the idle guest over a local socket. Nothing here is asserted. bench/migrate/run.sh runs it.
import ApusCore
import ApusDevices
import ApusGuests
import ApusKVM
import ApusVMM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Failure: Error, CustomStringConvertible { let description: String }

func machine(_ name: String, on backend: BackendChoice) throws -> (Machine, CapturingSerialOutput) {
    guard let guest = BuiltInGuests.named(name) else { throw Failure(description: "no built-in guest \(name)") }
    let output = CapturingSerialOutput()
    let machine = try Machine(configuration: MachineConfiguration(
        memoryMiB: 256, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image)), output: output)
    return (machine, output)
}

func waitFor(_ text: String, in output: CapturingSerialOutput) throws {
    let deadline = Date().addingTimeInterval(300)
    while !output.text.contains(text) {
        guard Date() < deadline else { throw Failure(description: "the guest never printed \(text)") }
        Thread.sleep(forTimeInterval: 0.01)
    }
}

func milliseconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return String(format: "%.1f ms", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
}

func migrateOnce(_ source: Machine) throws -> MigrationReport {
    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
        throw Failure(description: "socketpair: \(String(cString: strerror(errno)))")
    }
    defer { close(fds[0]); close(fds[1]) }
    let targetFD = fds[1]
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var target: Result<Machine, any Error>?
    Thread {
        target = Result { try Machine.receiveMigration(over: targetFD, output: CapturingSerialOutput()) }
        done.signal()
    }.start()
    let report = try source.migrate(over: fds[0])
    done.wait()
    let moved = try target!.get()
    moved.stop()
    _ = moved.waitForOutcome()
    return report
}

let backends: [BackendChoice] = KVMHypervisor().availability().isUsable ? [.kvm, .soft] : [.soft]
if case .unusable(let reason) = KVMHypervisor().availability() { print("KVM left out: \(reason)") }
let cases: [(label: String, guest: String, ready: String?)] = [
    ("idle", "counter", "3\n"), ("memfill", "memfill", "memfill: 248 MiB dirtied"), ("memchurn", "memchurn", nil),
]
print("256 MiB guests, machine to machine over a Unix socketpair in one process (release build)")
for backend in backends {
    for (label, guest, ready) in cases {
        let (source, output) = try machine(guest, on: backend)
        try source.start()
        if let ready { try waitFor(ready, in: output) } else { Thread.sleep(forTimeInterval: 0.3) }
        let report = try migrateOnce(source)
        source.stop()
        _ = source.waitForOutcome()
        let sentMiB = Double(report.pagesSent) * 4104 / 1_048_576
        print("\(backend) \(label): migration total \(milliseconds(report.total)), downtime "
              + "\(milliseconds(report.downtime)), \(report.pagesSent) pages sent (\(String(format: "%.1f", sentMiB)) MiB), "
              + "\(report.zeroPages) zero pages not sent, \(report.rounds) rounds, \(report.finalPages) pages while paused")

        let (again, againOutput) = try machine(guest, on: backend)
        try again.start()
        if let ready { try waitFor(ready, in: againOutput) } else { Thread.sleep(forTimeInterval: 0.3) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-bench-migrate-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let snapshot = try again.snapshotLive(to: directory)
        again.stop()
        _ = again.waitForOutcome()
        let clock = ContinuousClock()
        let restoreStart = clock.now
        let restored = try Machine.restore(from: directory, output: CapturingSerialOutput())
        let restoreTime = clock.now - restoreStart
        restored.stop()
        print("\(backend) \(label): live snapshot total \(milliseconds(snapshot.total)), downtime "
              + "\(milliseconds(snapshot.downtime)), \(snapshot.rounds) rounds; restore from disk \(milliseconds(restoreTime))")
    }
}
