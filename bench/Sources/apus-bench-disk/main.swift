// Disk-image figures for ApusDisk next to qemu-img on the same kind of image in the same run: clone (overlay)
// creation over a 1 GiB template, and qcow2 throughput (1 MiB sequential, 4 KiB sequential) through the image layer.
// Printed, never asserted. Usage: apus-bench-disk SCRATCH_DIRECTORY [CLONES]
import ApusDisk
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: apus-bench-disk SCRATCH_DIRECTORY [CLONES]")
    exit(2)
}
let scratch = arguments[1]
let clones = arguments.count > 2 ? Int(arguments[2]) ?? 50 : 50
let gib: UInt64 = 1 << 30

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func percentile90(_ values: [Double]) -> Double { values.sorted()[min(values.count - 1, values.count * 9 / 10)] }

@discardableResult
func run(_ tool: String, _ arguments: [String]) -> (seconds: Double, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let start = now()
    do { try process.run() } catch {
        print("cannot run \(tool): \(error)")
        exit(1)
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let seconds = now() - start
    let output = String(decoding: data, as: UTF8.self)
    if process.terminationStatus != 0 {
        print("\(tool) \(arguments.joined(separator: " ")) failed: \(output)")
        exit(1)
    }
    return (seconds, output)
}

/// qemu-img bench's own figure ("Run completed in X seconds."), which excludes its start-up.
func qemuBenchSeconds(_ output: String) -> Double {
    guard let line = output.split(separator: "\n").first(where: { $0.contains("Run completed in") }),
          let value = line.split(separator: " ").compactMap({ Double($0) }).first else { return .nan }
    return value
}

func format(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

do {
    // MARK: Clone creation over a 1 GiB template
    let rawTemplate = scratch + "/template.raw"
    FileManager.default.createFile(atPath: rawTemplate, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: rawTemplate))
    try handle.truncate(atOffset: gib)
    try handle.close()
    let qcowTemplate = scratch + "/template.qcow2"
    let template = try Qcow2Image.create(path: qcowTemplate, size: gib)
    let block = [UInt8](repeating: 0x5A, count: 4096)
    var offset: UInt64 = 0
    while offset < gib {  // a cluster in every MiB: all sixteen L2 tables exist
        try template.write(block, at: offset)
        offset += 1 << 20
    }
    try template.flush()

    print("clone creation over a 1 GiB template (\(clones) clones each; Apus: create + fsync + open the chain in-process;"
          + " qemu-img create -b: whole process, start-up included):")
    print("| template | Apus median | Apus p90 | qemu-img median | goal |")
    print("|---|---|---|---|---|")
    for (name, kind) in [("template.raw", "raw"), ("template.qcow2", "qcow2")] {
        var apus: [Double] = []
        var qemu: [Double] = []
        for index in 0..<clones {
            let path = scratch + "/clone-\(kind)-\(index).qcow2"
            let start = now()
            _ = try Qcow2Image.create(path: path, backingFile: name, backingFormat: kind)
            apus.append(now() - start)
            try FileManager.default.removeItem(atPath: path)
            qemu.append(run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", "-b", name, "-F", kind, path]).seconds)
            try FileManager.default.removeItem(atPath: path)
        }
        print("| 1 GiB \(kind) | \(format(median(apus) * 1000, 3)) ms | \(format(percentile90(apus) * 1000, 3)) ms"
              + " | \(format(median(qemu) * 1000, 1)) ms | ≤ 5 ms |")
    }

    // MARK: qcow2 throughput through the image layer
    let region: UInt64 = 256 << 20
    let apusImage = try Qcow2Image.create(path: scratch + "/apus.qcow2", size: gib)
    let chunk = [UInt8](repeating: 0xA5, count: 1 << 20)
    var start = now()
    offset = 0
    while offset < region {
        try apusImage.write(chunk, at: offset)
        offset += 1 << 20
    }
    let apusSequentialWrite = Double(region) / (now() - start) / 1e6
    start = now()
    try apusImage.flush()
    let apusFlushSeconds = now() - start
    var readBuffer = [UInt8](repeating: 0, count: 1 << 20)
    start = now()
    offset = 0
    while offset < region {
        try readBuffer.withUnsafeMutableBytes { buffer in try apusImage.read(into: buffer, at: offset) }
        offset += 1 << 20
    }
    let apusSequentialRead = Double(region) / (now() - start) / 1e6
    let smallCount = 16384
    let small = [UInt8](repeating: 0x3C, count: 4096)
    start = now()
    for index in 0..<smallCount { try apusImage.write(small, at: UInt64(index) * 4096) }
    let apusSmallWrite = Double(smallCount) / (now() - start)
    var smallBuffer = [UInt8](repeating: 0, count: 4096)
    start = now()
    for index in 0..<smallCount {
        try smallBuffer.withUnsafeMutableBytes { buffer in try apusImage.read(into: buffer, at: UInt64(index) * 4096) }
    }
    let apusSmallRead = Double(smallCount) / (now() - start)
    var generator = SystemRandomNumberGenerator()
    start = now()
    for _ in 0..<smallCount {
        let at = UInt64.random(in: 0..<(region / 4096), using: &generator) * 4096
        try smallBuffer.withUnsafeMutableBytes { buffer in try apusImage.read(into: buffer, at: at) }
    }
    let apusRandomRead = Double(smallCount) / (now() - start)

    let qemuImage = scratch + "/qemu.qcow2"
    run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", qemuImage, "1G"])
    let bench = "/usr/bin/qemu-img"
    let common = ["bench", "-f", "qcow2", "-d", "1", "-t", "writeback", "-q"]
    let qemuWrite = qemuBenchSeconds(run(bench, common + ["-w", "-c", "256", "-s", "1M", qemuImage]).output)
    let qemuRead = qemuBenchSeconds(run(bench, common + ["-c", "256", "-s", "1M", qemuImage]).output)
    let qemuSmallWrite = qemuBenchSeconds(run(bench, common + ["-w", "-c", "\(smallCount)", "-s", "4096", qemuImage]).output)
    let qemuSmallRead = qemuBenchSeconds(run(bench, common + ["-c", "\(smallCount)", "-s", "4096", qemuImage]).output)
    let qemuSequentialWrite = Double(region) / qemuWrite / 1e6
    let qemuSequentialRead = Double(region) / qemuRead / 1e6
    print("")
    print("qcow2 (64 KiB clusters, page cache, one request at a time), 256 MiB region of a 1 GiB image;"
          + " qemu-img bench -d 1 -t writeback on the same layout:")
    print("| operation | Apus | qemu-img bench | Apus / qemu |")
    print("|---|---|---|---|")
    print("| 1 MiB sequential write (allocating), no flush | \(format(apusSequentialWrite, 0)) MB/s"
          + " | \(format(qemuSequentialWrite, 0)) MB/s | \(format(apusSequentialWrite / qemuSequentialWrite)) |")
    print("| 1 MiB sequential read | \(format(apusSequentialRead, 0)) MB/s | \(format(qemuSequentialRead, 0)) MB/s"
          + " | \(format(apusSequentialRead / qemuSequentialRead)) |")
    print("| 4 KiB sequential write (allocated) | \(format(apusSmallWrite, 0)) IOPS"
          + " | \(format(Double(smallCount) / qemuSmallWrite, 0)) IOPS"
          + " | \(format(apusSmallWrite / (Double(smallCount) / qemuSmallWrite))) |")
    print("| 4 KiB sequential read | \(format(apusSmallRead, 0)) IOPS | \(format(Double(smallCount) / qemuSmallRead, 0)) IOPS"
          + " | \(format(apusSmallRead / (Double(smallCount) / qemuSmallRead))) |")
    print("| 4 KiB random read | \(format(apusRandomRead, 0)) IOPS | (qemu-img bench has no random mode) | |")
    print("(Apus's flush after the 256 MiB write, data and metadata to stable storage: \(format(apusFlushSeconds, 3)) s)")
} catch {
    print("benchmark failed: \(error)")
    exit(1)
}
