// apus-bench-pio: the cost of one port-I/O exit through Apus's real exit path on KVM:
// KVMVCPU.run() -> VCPUExit.portIO -> ExitDispatcher -> PostCodePort on the port bus -> run() again.
// bench/pio-roundtrip/run.sh runs it next to a raw C KVM_RUN loop on the same guest and prints the ratio.
import ApusCore
import ApusDevices
import ApusKVM
import Foundation

/// The guest, hand-assembled: `l: out 0x80, al; jmp l` (E6 80 = out imm8, al; EB FC = jmp -4), entered in real
/// mode at 0:0x8000. `--write-guest` writes these bytes so the C reference runs the identical code.
let guestImage: [UInt8] = [0xE6, 0x80, 0xEB, 0xFC]
let guestAddress: UInt64 = 0x8000

struct Options {
    var exits = 200_000
    var writeGuest: String?

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--exits":
                guard let value = iterator.next().flatMap(Int.init), value > 0 else { throw Self.usage }
                exits = value
            case "--write-guest":
                guard let value = iterator.next() else { throw Self.usage }
                writeGuest = value
            default:
                throw Self.usage
            }
        }
    }

    static let usage = Failure(description: "usage: apus-bench-pio [--exits N] [--write-guest PATH]")
}

struct Failure: Error, CustomStringConvertible { let description: String }

/// A real-mode vCPU at 0:0x8000 with the guest loaded, on the calling thread.
func makeGuest() throws -> (any MachineBackend, any VCPUBackend) {
    let hypervisor = KVMHypervisor()
    if case .unusable(let reason) = hypervisor.availability() { throw Failure(description: "KVM: \(reason)") }
    let memory = try GuestMemory(size: 2 << 20)
    try memory.write(guestImage, at: GuestAddress(guestAddress))
    let machine = try hypervisor.makeMachine(memory: memory, options: MachineOptions())
    let vcpu = try machine.makeVCPU(index: 0)
    var special = try vcpu.specialRegisters()
    special.cs = Segment.realMode(selector: 0, code: true)
    special.ds = Segment.realMode(selector: 0)
    special.ss = Segment.realMode(selector: 0)
    try vcpu.setSpecialRegisters(special)
    var registers = Registers()
    registers.rip = guestAddress
    try vcpu.setRegisters(registers)
    return (machine, vcpu)
}

func benchmark(_ options: Options) throws {
    if let path = options.writeGuest {
        try Data(guestImage).write(to: URL(fileURLWithPath: path))
        return
    }
    let (machine, vcpu) = try makeGuest()
    let ports = try IOBus(name: "port I/O").inserting(DeviceSlot(name: "post-code", device: PostCodePort()),
                                                      at: GuestRange(start: GuestAddress(0x80), size: 1))
    let dispatcher = ExitDispatcher(portBus: ports, mmioBus: IOBus(name: "MMIO"), unmappedPolicy: .fail)

    // The VMM's loop, reduced to the exits this guest makes.
    func roundTrips(_ count: Int) throws {
        for _ in 0..<count {
            switch try vcpu.run() {
            case .portIO(let access): try dispatcher.dispatch(access)
            case let other: throw Failure(description: "unexpected exit \(other.kind)")
            }
        }
    }
    try roundTrips(1000)  // warm up, as the C side does: the first entries fault in the guest's pages
    let start = DispatchTime.now().uptimeNanoseconds
    try roundTrips(options.exits)
    let elapsed = DispatchTime.now().uptimeNanoseconds - start
    withExtendedLifetime(machine) {}
    print(String(format: "apus: %d exits, %.1f ns per round trip", options.exits,
                 Double(elapsed) / Double(options.exits)))
}

do {
    try benchmark(try Options(CommandLine.arguments))
} catch {
    FileHandle.standardError.write(Data("apus-bench-pio: \(error)\n".utf8))
    exit(1)
}
