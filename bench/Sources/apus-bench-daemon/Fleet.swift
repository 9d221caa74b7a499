import ApusAPI
import ApusClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One apusd for a measurement, with VMs isolated one way or the other (`--isolation worker|none`).
final class BenchDaemon {
    let process = Process()
    let client: ApusAPIClient
    let isolation: String

    init(apusd: String, directory: String, isolation: String) throws {
        self.isolation = isolation
        let socketPath = directory + "/apusd-\(isolation).sock"
        client = ApusAPIClient(socketPath: socketPath)
        process.executableURL = URL(fileURLWithPath: apusd)
        process.arguments = ["--socket", socketPath, "--state-dir", directory + "/state-\(isolation)",
                             "--log-level", "warning", "--on-shutdown", "stop", "--isolation", isolation,
                             "--memory-overcommit"]
        try process.run()
        try waitFor("apusd to answer") { _ = try client.host(); return true }
    }

    var pid: Int32 { process.processIdentifier }

    /// The worker processes (children of the daemon).
    var workers: [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { candidate in
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// GET /v1/vms/{id} with `paused` VMs paused next to `spinning` VMs counting on their consoles, in one run; the
/// start latency of a VM; RSS of the daemon and of each worker beyond guest RAM.
enum FleetBench {
    static func run(apusd: String, directory: String, vms: Int, rounds: Int) throws {
        var startLatencies: [String: Double] = [:]
        for isolation in ["worker", "none"] {
            let daemon = try BenchDaemon(apusd: apusd, directory: directory, isolation: isolation)
            defer { daemon.stop() }
            let client = daemon.client
            print("--- isolation \(isolation) ---")
            // Start latency: define-free start then stop of one counter guest.
            _ = try client.define(VMDefinition(name: "starter", boot: .guest("counter")))
            var start = Latencies()
            for _ in 0..<20 {
                _ = try start.time { try client.perform(.start, on: "starter") }
                _ = try client.perform(.stop, on: "starter")
            }
            startLatencies[isolation] = start.percentile(0.5)
            print("VM start:                        \(start.summary)")

            let idleKiB = ProcessMemory.residentKiB(daemon.pid)
            for index in 0..<(2 * vms) {
                _ = try client.define(VMDefinition(name: "vm\(index)", boot: .guest("counter")))
                _ = try client.perform(.start, on: "vm\(index)")
                if index >= vms { _ = try client.perform(.pause, on: "vm\(index)") }
            }
            usleep(500_000)
            let daemonKiB = ProcessMemory.residentKiB(daemon.pid)
            let guestInDaemonKiB = ProcessMemory.residentKiB(daemon.pid, inMappingsOfSize: VMDefinition.defaultMemoryMiB * 1024)
            print(String(format: "daemon RSS: idle %.1f MiB, with %d VMs %.1f MiB (guest RAM in it %.1f MiB)",
                         Double(idleKiB) / 1024, 2 * vms, Double(daemonKiB) / 1024, Double(guestInDaemonKiB) / 1024))
            let workers = daemon.workers
            if !workers.isEmpty {
                let beyond = workers.map { pid in
                    Double(ProcessMemory.residentKiB(pid)
                           - ProcessMemory.residentKiB(pid, inMappingsOfSize: VMDefinition.defaultMemoryMiB * 1024)) / 1024
                }.sorted()
                print(String(format: "per worker RSS beyond guest RAM: median %.2f MiB, max %.2f MiB over %d workers (goal <= 5 MiB)",
                             beyond[beyond.count / 2], beyond.last ?? 0, beyond.count))
                // Most of that RSS is the shared libraries' pages, in memory once for the daemon and every worker.
                let own = workers.map { pid in
                    Double(ProcessMemory.privateKiB(pid)
                           - ProcessMemory.residentKiB(pid, inMappingsOfSize: VMDefinition.defaultMemoryMiB * 1024)) / 1024
                }.sorted()
                print(String(format: "per worker private memory beyond guest RAM: median %.2f MiB, max %.2f MiB",
                             own[own.count / 2], own.last ?? 0))
            }

            // Latency of the API with half the VMs spinning and half paused, probing one of each.
            var spinningGet = Latencies(), pausedGet = Latencies()
            for _ in 0..<rounds {
                _ = try spinningGet.time { try client.show("vm0") }
                _ = try pausedGet.time { try client.show("vm\(vms)") }
            }
            var list = Latencies()
            for _ in 0..<max(rounds / 10, 20) { _ = try list.time { try client.list() } }
            print("GET a spinning VM:               \(spinningGet.summary)")
            print("GET a paused VM:                 \(pausedGet.summary)")
            print("GET /v1/vms (\(2 * vms) VMs):              \(list.summary)")
            print(String(format: "  ratio spinning/paused p50 %.2f, p99 %.2f (goal <= 2)",
                         spinningGet.percentile(0.5) / pausedGet.percentile(0.5),
                         spinningGet.percentile(0.99) / pausedGet.percentile(0.99)))
            // Every VM paused: the same probe with no guest spinning at all.
            for index in 0..<vms { _ = try client.perform(.pause, on: "vm\(index)") }
            var quiet = Latencies()
            for _ in 0..<rounds { _ = try quiet.time { try client.show("vm0") } }
            print("GET with all \(2 * vms) VMs paused:      \(quiet.summary)")
            print(String(format: "  ratio %d spinning / none spinning p50 %.2f, p99 %.2f",
                         vms, spinningGet.percentile(0.5) / quiet.percentile(0.5),
                         spinningGet.percentile(0.99) / quiet.percentile(0.99)))
        }
        if let worker = startLatencies["worker"], let inProcess = startLatencies["none"] {
            print(String(format: "VM start p50: worker %.1f ms, in-process %.1f ms; ratio %.2f",
                         worker / 1000, inProcess / 1000, worker / inProcess))
        }
    }
}
