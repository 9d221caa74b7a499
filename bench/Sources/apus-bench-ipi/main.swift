// apus-bench-ipi: the cost of one interrupt round trip through the local APIC (guests/bench-ipi.S: a self-IPI sent
// through the ICR, delivered through the IDT, counted, EOI written, IRETQ), on the software CPU (Apus's LAPIC) and on
// KVM (the kernel's LAPIC, split irqchip) in the same run, printed side by side with their ratio. bench/ipi/run.sh
// runs it.
//
// Each backend boots the guest once with ITERATIONS round trips and once with none, in wall-clock time; the
// difference over ITERATIONS is one round trip, so machine set-up and the guest's own start cancel out.
import ApusCore
import ApusDevices
import ApusGuests
import ApusKVM
import ApusVMM
import Foundation

struct Failure: Error, CustomStringConvertible { let description: String }

/// The built-in image with the quadwords after the markers "ApusIter" (the count) and "ApusHalt" (wait in HLT)
/// replaced.
func image(iterations: UInt64, halting: Bool) throws -> [UInt8] {
    guard var bytes = BuiltInGuests.named("bench-ipi")?.image, !bytes.isEmpty else {
        throw Failure(description: "no built-in guest bench-ipi")
    }
    for (name, value) in [("ApusIter", iterations), ("ApusHalt", halting ? 1 : 0)] {
        let marker = Array(name.utf8)
        guard let at = (0...(bytes.count - marker.count - 8)).first(where: { Array(bytes[$0..<$0 + marker.count]) == marker })
        else { throw Failure(description: "bench-ipi has no \(name) marker") }
        for index in 0..<8 { bytes[at + marker.count + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }
    return bytes
}

/// Wall-clock seconds from start to the guest's debug exit.
func timedRun(_ backend: BackendChoice, iterations: UInt64, halting: Bool) throws -> Double {
    let output = CapturingSerialOutput()
    let machine = try Machine(configuration: MachineConfiguration(
        backend: backend, boot: .guestImage(name: "bench-ipi", bytes: try image(iterations: iterations, halting: halting)),
        interruptController: .full), output: output)
    let start = Date()
    let outcome = try machine.run()
    let seconds = Date().timeIntervalSince(start)
    guard outcome == .exited(code: 0), output.text == "bench-ipi: done\n" else {
        throw Failure(description: "\(backend): the guest ended with \(outcome) and printed '\(output.text)'")
    }
    return seconds
}

/// Microseconds per round trip.
func roundTrip(_ backend: BackendChoice, iterations: UInt64, halting: Bool) throws -> Double {
    let full = try timedRun(backend, iterations: iterations, halting: halting)
    let empty = try timedRun(backend, iterations: 0, halting: halting)
    return max(full - empty, 0) / Double(iterations) * 1e6
}

let arguments = CommandLine.arguments
let softIterations = arguments.count > 1 ? UInt64(arguments[1]) : 100_000
let kvmIterations = arguments.count > 2 ? UInt64(arguments[2]) : 2_000
guard let softIterations, let kvmIterations, softIterations > 0, kvmIterations > 0 else {
    FileHandle.standardError.write(Data("usage: apus-bench-ipi [SOFT-ITERATIONS] [KVM-ITERATIONS]\n".utf8))
    exit(2)
}

let kvmUsable = KVMHypervisor().availability()
if case .unusable(let reason) = kvmUsable { print("KVM: not measured: \(reason)") }
do {
    for halting in [false, true] {
        let wait = halting ? "receiver halted in HLT" : "receiver spinning"
        let soft = try roundTrip(.soft, iterations: softIterations, halting: halting)
        print(String(format: "%@, software CPU (Apus LAPIC):    %9.2f us per self-IPI round trip (%llu)", wait, soft,
                     softIterations))
        guard kvmUsable.isUsable else { continue }
        let kvm = try roundTrip(.kvm, iterations: kvmIterations, halting: halting)
        print(String(format: "%@, KVM (kernel LAPIC, split):   %9.2f us per self-IPI round trip (%llu)", wait, kvm,
                     kvmIterations))
        print(String(format: "%@, software CPU / KVM:          %9.3f", wait, kvm > 0 ? soft / kvm : .infinity))
    }
} catch {
    FileHandle.standardError.write(Data("apus-bench-ipi: \(error)\n".utf8))
    exit(1)
}
