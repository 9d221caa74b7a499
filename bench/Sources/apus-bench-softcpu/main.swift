// apus-bench-softcpu: guest MIPS of the software CPU on two guests (guests/bench-compute.S, guests/bench-paging.S),
// side by side with QEMU's TCG running the very same image bytes in the same run. bench/softcpu/run.sh prints it.
//
// Both sides are timed in CPU time (user + system: the vCPU thread for Apus, the whole qemu process for QEMU), so
// other load on a shared machine disturbs the figures little, once with ITERATIONS and once with zero iterations;
// the difference is the loop alone, so QEMU's start-up (process, firmware, Multiboot loading) and the guests' own
// set-up cancel out of both figures and of their ratio.
import ApusBoot
import ApusCore
import ApusGuests
import ApusSoftCPU
import Foundation

struct Failure: Error, CustomStringConvertible { let description: String }

/// A benchmark guest and the instructions one iteration of its timed loop retires (see its source).
struct BenchGuest {
    let name: String
    let instructionsPerIteration: Double
    let summary: String
}

let guests = [
    BenchGuest(name: "bench-compute", instructionsPerIteration: 6, summary: "compute loop"),
    BenchGuest(name: "bench-paging", instructionsPerIteration: 7, summary: "4 KiB pages, TLB misses"),
]

/// bench-compute counts in ECX: the count must fit in 32 bits.
let maximumIterations: UInt64 = 4_000_000_000

struct Options {
    var iterations: UInt64 = 5_000_000
    var qemu: String?

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--qemu":
                guard let value = iterator.next() else { throw Self.usage }
                qemu = value
            default:
                guard let value = UInt64(argument), value > 0, value <= maximumIterations else { throw Self.usage }
                iterations = value
            }
        }
    }

    static let usage = Failure(description:
        "usage: apus-bench-softcpu [ITERATIONS (1...\(maximumIterations))] [--qemu PATH-TO-qemu-system-x86_64]")
}

/// The built-in image with its iteration count (the quadword after the marker "ApusIter") replaced.
func image(_ name: String, iterations: UInt64) throws -> [UInt8] {
    guard var bytes = BuiltInGuests.named(name)?.image, !bytes.isEmpty else {
        throw Failure(description: "no built-in guest \(name)")
    }
    let marker = Array("ApusIter".utf8)
    guard let at = (0...(bytes.count - marker.count - 8)).first(where: { Array(bytes[$0..<$0 + marker.count]) == marker })
    else { throw Failure(description: "\(name) has no ApusIter marker") }
    for index in 0..<8 { bytes[at + marker.count + index] = UInt8(truncatingIfNeeded: iterations >> (8 * UInt64(index))) }
    return bytes
}

/// CPU seconds this thread has used.
func threadCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// CPU seconds (user + system) of the children waited for so far.
func childrenCPUTime() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU seconds the software CPU takes from entry to the guest's debug-exit write (COM1 answers "ready"; output is
/// dropped).
func runOnSoftCPU(_ bytes: [UInt8]) throws -> Double {
    let memory = try GuestMemory(size: 64 << 20)
    let plan = try GuestImageLoader.load(bytes, into: memory)
    let vcpu = try SoftCPUHypervisor().makeMachine(memory: memory, options: MachineOptions()).makeVCPU(index: 0)
    try vcpu.setSpecialRegisters(plan.specialRegisters)
    try vcpu.setRegisters(plan.registers)
    let start = threadCPUTime()
    while true {
        let exit = try vcpu.run()
        switch exit {
        case .portIO(let access) where access.port == 0xF4 && access.direction == .write:
            guard access.data[0] == 0 else { throw Failure(description: "the guest reported failure \(access.data[0])") }
            return threadCPUTime() - start
        case .portIO(let access) where access.direction == .read:
            for index in 0..<access.data.count { access.data[index] = 0x20 }   // LSR: transmitter empty
        case .portIO:
            continue
        default:
            throw Failure(description: "the guest stopped with \(exit.kind)")
        }
    }
}

/// CPU seconds a whole `qemu-system-x86_64 -accel tcg` run of the image takes, process start to exit.
func runOnQEMU(_ bytes: [UInt8], qemu: String) throws -> Double {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("apus-bench-\(getpid()).elf")
    try Data(bytes).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: qemu)
    process.arguments = ["-accel", "tcg", "-cpu", "qemu64", "-m", "128", "-nodefaults", "-display", "none",
                         "-serial", "null", "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                         "-kernel", file.path]
    process.standardOutput = FileHandle.nullDevice
    let errors = Pipe()
    process.standardError = errors
    let start = childrenCPUTime()
    try process.run()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let seconds = childrenCPUTime() - start
    // isa-debug-exit turns the value written (0 = pass) into the exit status (value << 1) | 1.
    guard process.terminationStatus == 1 else {
        throw Failure(description: "QEMU exited with \(process.terminationStatus): \(String(decoding: message, as: UTF8.self))")
    }
    return seconds
}

/// Guest MIPS of the loop alone: a run with `iterations` minus a zero-iteration run. While the loop takes under a
/// second (QEMU's JIT on the compute loop), the count grows towards 1.5 s of loop, so start-up noise stays small.
func mips(_ guest: BenchGuest, iterations: UInt64, run: ([UInt8]) throws -> Double) throws -> (mips: Double, iterations: UInt64) {
    let baseline = try run(try image(guest.name, iterations: 0))
    var count = iterations
    while true {
        let loop = try run(try image(guest.name, iterations: count)) - baseline
        if loop >= 1 || count >= maximumIterations {
            return (Double(count) * guest.instructionsPerIteration / max(loop, 1e-9) / 1e6, count)
        }
        // Aim at about 1.5 s of loop: at least twice as many, at most 100 times.
        let factor = min(100, max(2, 1.5 / max(loop, 0.015)))
        count = min(maximumIterations, UInt64(Double(count) * factor))
    }
}

do {
    let options = try Options(CommandLine.arguments)
    for guest in guests {
        let apus = try mips(guest, iterations: options.iterations, run: runOnSoftCPU)
        func padded(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        var line = padded(guest.name, 14) + padded(guest.summary, 25)
            + String(format: "Apus soft CPU %6.1f MIPS (%llu it.)", apus.mips, apus.iterations)
        if let qemu = options.qemu {
            let tcg = try mips(guest, iterations: options.iterations) { try runOnQEMU($0, qemu: qemu) }
            line += String(format: " | QEMU TCG %7.1f MIPS (%llu it.) | Apus/QEMU %.3f", tcg.mips, tcg.iterations,
                           apus.mips / tcg.mips)
        }
        print(line)
    }
} catch {
    FileHandle.standardError.write(Data("apus-bench-softcpu: \(error)\n".utf8))
    exit(1)
}
