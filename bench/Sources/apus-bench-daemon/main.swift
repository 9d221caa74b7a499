// apus-bench-daemon: apusd's API latency, pause/resume latency, suspend/resume time of a 256 MiB guest whose memory
// is in use, and the daemon's memory per VM. bench/daemon/run.sh builds everything in release mode and runs it.
import ApusAPI
import ApusClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: apus-bench-daemon APUSD [ROUNDS] [VMS] [FLEET]\n".utf8))
    exit(2)
}
let apusdPath = arguments[1]
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 2000 : 2000
let extraVMs = arguments.count > 3 ? Int(arguments[3]) ?? 10 : 10
/// Spinning VMs, and as many paused, for the fleet measurement.
let fleetVMs = arguments.count > 4 ? Int(arguments[4]) ?? 20 : 20

func waitFor(_ what: String, seconds: Double = 120, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? condition()) == true { return }
        usleep(10_000)
    }
    throw BenchError("timed out waiting for \(what)")
}

let directory = "/tmp/apus-bench-daemon-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let socketPath = directory + "/apusd.sock"
let daemon = Process()
daemon.executableURL = URL(fileURLWithPath: apusdPath)
daemon.arguments = ["--socket", socketPath, "--state-dir", directory + "/state", "--log-level", "warning",
                    "--on-shutdown", "stop"]
try daemon.run()
defer {
    if daemon.isRunning { daemon.terminate() }
    daemon.waitUntilExit()
}
let client = ApusAPIClient(socketPath: socketPath)
try waitFor("apusd to answer") { _ = try client.host(); return true }
let host = try client.host()
print("apusd \(host.version), VMs run on the \(host.defaultBackend) backend")
usleep(500_000)
let idleKiB = ProcessMemory.residentKiB(daemon.processIdentifier)
print(String(format: "daemon RSS idle:                 %7.1f MiB", Double(idleKiB) / 1024))

// Memory per additional VM, measured first on a fresh daemon (later work would leave freed heap in its RSS): N
// paused counter guests (threads and memory resident), minus their guest RAM.
usleep(300_000)
let before = ProcessMemory.residentKiB(daemon.processIdentifier)
let guestBeforeKiB = ProcessMemory.residentKiB(daemon.processIdentifier, inMappingsOfSize: VMDefinition.defaultMemoryMiB * 1024)
for index in 0..<extraVMs {
    _ = try client.define(VMDefinition(name: "vm\(index)", boot: .guest("counter")))
    _ = try client.perform(.start, on: "vm\(index)")
    _ = try client.perform(.pause, on: "vm\(index)")
}
usleep(300_000)
let after = ProcessMemory.residentKiB(daemon.processIdentifier)
let guestKiB = ProcessMemory.residentKiB(daemon.processIdentifier, inMappingsOfSize: VMDefinition.defaultMemoryMiB * 1024)
let perVM = Double((after - guestKiB) - (before - guestBeforeKiB)) / Double(extraVMs) / 1024
print(String(format: "daemon RSS with %2d more VMs:     %7.1f MiB (+%.1f MiB, of which guest RAM %.1f MiB)",
             extraVMs, Double(after) / 1024, Double(after - before) / 1024, Double(guestKiB - guestBeforeKiB) / 1024))
print(String(format: "per additional VM beyond guest RAM: %.2f MiB (goal <= 3 MiB; Firecracker states <= 5 MiB per VM process)", perVM))
for index in 0..<extraVMs {
    _ = try client.perform(.stop, on: "vm\(index)")
    _ = try client.undefine("vm\(index)")
}


// API latency: a fresh connection per request, as curl makes it, each in its own block of rounds (interleaving them
// round by round was tried: the floor's server thread then sleeps between its rounds and the floor rose from about
// 28 to 113 µs, which flatters the ratio). The wire figure is timed exactly as the floor is (same request bytes but
// the real path, reply read to EOF); the ApusClient figure adds the Swift client's own work (building the request,
// parsing the response, decoding the JSON into VMInfo).
_ = try client.define(VMDefinition(name: "probe", boot: .guest("counter")))
let wireGet = WireGet(socketPath: socketPath, id: "probe")
var floor = Latencies(), wire = Latencies(), get = Latencies()
for _ in 0..<rounds { try wireGet.measure(into: &wire) }
for _ in 0..<rounds { _ = try get.time { try client.show("probe") } }
do {
    let floorServer = try SocketFloor(directory: directory, rounds: rounds)
    for _ in 0..<rounds { try floorServer.measure(into: &floor) }
}
print("GET /v1/vms/{id} on the wire:    \(wire.summary)")
print("GET /v1/vms/{id} via ApusClient: \(get.summary)")
print("raw Unix-socket round trip:      \(floor.summary)")
print(String(format: "  ratio wire p50 / raw p50:       %7.2f  (goal <= 5)", wire.percentile(0.5) / floor.percentile(0.5)))
print(String(format: "  ratio ApusClient p50 / raw p50: %7.2f", get.percentile(0.5) / floor.percentile(0.5)))

// Pause and resume of a running guest.
_ = try client.perform(.start, on: "probe")
var pause = Latencies(), resume = Latencies()
for _ in 0..<min(rounds, 200) {
    _ = try pause.time { try client.perform(.pause, on: "probe") }
    _ = try resume.time { try client.perform(.resume, on: "probe") }
}
print("pause:                           \(pause.summary)")
print("resume:                          \(resume.summary)")
_ = try client.perform(.stop, on: "probe")

// Suspend and resume of a 256 MiB guest that has dirtied 248 MiB; the reference writes and fsyncs as many bytes.
_ = try client.define(VMDefinition(name: "big", memoryMiB: 256, boot: .guest("memfill")))
_ = try client.perform(.start, on: "big")
try waitFor("memfill to dirty its memory") { String(decoding: try client.consoleBacklog("big"), as: UTF8.self).contains("dirtied") }
var suspend = Latencies(), restore = Latencies()
for _ in 0..<3 {
    _ = try suspend.time { try client.perform(.suspend, on: "big") }
    _ = try restore.time { try client.perform(.resume, on: "big") }
}
let savedKiB = 256 * 1024
var rawWrite = Latencies()
let chunk = [UInt8](repeating: 0xA5, count: 1 << 20)
for _ in 0..<3 {
    rawWrite.time {
        let fd = open(directory + "/raw.bin", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        for _ in 0..<(savedKiB / 1024) { _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        fsync(fd)
        close(fd)
    }
    unlink(directory + "/raw.bin")
}
print(String(format: "suspend 256 MiB guest:           %8.1f ms (median of 3)", suspend.percentile(0.5) / 1000))
print(String(format: "resume from disk:                %8.1f ms", restore.percentile(0.5) / 1000))
print(String(format: "write+fsync 256 MiB (reference): %8.1f ms;  ratio suspend/reference %.2f",
             rawWrite.percentile(0.5) / 1000, suspend.percentile(0.5) / rawWrite.percentile(0.5)))
_ = try client.perform(.stop, on: "big")


_ = try client.undefine("probe")
_ = try client.undefine("big")
// Workers against in-process VMs: start latency, RSS per worker, API latency with spinning and paused VMs.
try FleetBench.run(apusd: apusdPath, directory: directory, vms: fleetVMs, rounds: min(rounds, 1000))
