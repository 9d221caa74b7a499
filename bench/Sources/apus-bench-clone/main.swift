// apusd clone creation over a 1 GiB template: `POST /v1/vms/{template}/clone` timed end to end (request, policy
// checks of the template's image, overlay written and fsynced, renamed, directory fsynced, the clone's record
// written durably, reply), p50/p99 over many clones, next to `qemu-img create -f qcow2 -b` on the same base in the
// same run, and next to the floor the storage sets: a clone is durable through five syncs (the overlay's data,
// the clone directory, the VM directory's creation, the record, its rename), so the same five syncs of small files
// and directories on the same file system are timed too. Printed, never asserted.
// Usage: apus-bench-clone APUSD SCRATCH_DIRECTORY [CLONES]
import ApusAPI
import ApusClient
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    print("usage: apus-bench-clone APUSD SCRATCH_DIRECTORY [CLONES]")
    exit(2)
}
let apusd = arguments[1]
let scratch = arguments[2]
let clones = arguments.count > 3 ? Int(arguments[3]) ?? 200 : 200
let gib: UInt64 = 1 << 30

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

func milliseconds(_ seconds: Double) -> String { String(format: "%.2f ms", seconds * 1000) }

func run(_ tool: String, _ arguments: [String]) -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    let start = now()
    do { try process.run() } catch {
        print("cannot run \(tool): \(error)")
        exit(1)
    }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        print("\(tool) \(arguments.joined(separator: " ")) failed")
        exit(1)
    }
    return now() - start
}

let images = scratch + "/images"
let socket = scratch + "/apusd.sock"
try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
let base = images + "/template.raw"
FileManager.default.createFile(atPath: base, contents: nil)
guard truncate(base, off_t(gib)) == 0 else {
    print("cannot size \(base)")
    exit(1)
}

let daemon = Process()
daemon.executableURL = URL(fileURLWithPath: apusd)
daemon.arguments = ["--socket", socket, "--state-dir", scratch + "/state", "--image-root", images]
daemon.standardOutput = FileHandle.nullDevice
daemon.standardError = FileHandle.nullDevice
try daemon.run()
defer { daemon.terminate(); daemon.waitUntilExit() }
let client = ApusAPIClient(socketPath: socket)
let deadline = now() + 30
while (try? client.host()) == nil {
    guard now() < deadline, daemon.isRunning else {
        print("apusd did not start")
        exit(1)
    }
    usleep(20_000)
}

_ = try client.define(VMDefinition(name: "template", boot: .guest("hello"), disks: [DiskSpec(path: base)]))
var apus: [Double] = []
for index in 0..<clones {
    let start = now()
    _ = try client.clone("template", as: "clone\(index)")
    apus.append(now() - start)
}
var undefine: [Double] = []
for index in 0..<clones {
    let start = now()
    _ = try client.undefine("clone\(index)")
    undefine.append(now() - start)
}
var qemu: [Double] = []
let overlay = scratch + "/qemu-overlay.qcow2"
for _ in 0..<clones {
    qemu.append(run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, overlay]))
    unlink(overlay)
}

// The storage floor: what five syncs like the clone's cost here, with no qcow2 and no HTTP.
var floor: [Double] = []
let syncDirectory = scratch + "/sync"
try FileManager.default.createDirectory(atPath: syncDirectory, withIntermediateDirectories: true)
func syncPath(_ path: String, directory: Bool) {
    let descriptor = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
    if directory { fsync(descriptor) } else { fdatasync(descriptor) }
    close(descriptor)
}
for index in 0..<clones {
    let start = now()
    let file = syncDirectory + "/overlay\(index)"
    FileManager.default.createFile(atPath: file, contents: Data(count: 512))
    syncPath(file, directory: false)
    syncPath(syncDirectory, directory: true)
    let vm = syncDirectory + "/vm\(index)"
    mkdir(vm, 0o700)
    syncPath(syncDirectory, directory: true)
    FileManager.default.createFile(atPath: vm + "/record", contents: Data(count: 1024))
    syncPath(vm + "/record", directory: false)
    syncPath(vm, directory: true)
    floor.append(now() - start)
}

print("clone of a 1 GiB raw template, \(clones) clones:")
print("| | p50 | p99 |")
print("|---|---|---|")
print("| apusd POST /v1/vms/template/clone (end to end, durable) | \(milliseconds(percentile(apus, 0.5))) | \(milliseconds(percentile(apus, 0.99))) |")
print("| apusd DELETE of a clone (overlay removed) | \(milliseconds(percentile(undefine, 0.5))) | \(milliseconds(percentile(undefine, 0.99))) |")
print("| qemu-img create -f qcow2 -b (whole process) | \(milliseconds(percentile(qemu, 0.5))) | \(milliseconds(percentile(qemu, 0.99))) |")
print("| five syncs of small files and directories, as a clone does (the storage floor) | \(milliseconds(percentile(floor, 0.5))) | \(milliseconds(percentile(floor, 0.99))) |")
print(String(format: "apusd clone / five syncs (p50): %.2f", percentile(apus, 0.5) / percentile(floor, 0.5)))
print(String(format: "apusd clone / qemu-img create (p50): %.2f; goal: apusd clone p50 <= 5 ms", percentile(apus, 0.5) / percentile(qemu, 0.5)))
