// apus-bench-pio: the cost of one port-I/O exit through Apus's real exit path on KVM:
// KVMVCPU.run() -> VCPUExit.portIO -> ExitDispatcher -> PostCodePort.write -> run() again.
// bench/pio-roundtrip/run.sh runs it next to a raw C KVM_RUN loop on the same guest and prints the ratio.
import ApusCore
import ApusDevices
import ApusGuests
import ApusKVM
import Foundation

struct Options {
    var exits = 200_000
    var writeGuest: String?

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--exits":
                guard let value = iterator.next().flatMap(Int.init), value > 0 else { throw usage() }
                exits = value
            case "--write-guest":
                guard let value = iterator.next() else { throw usage() }
                writeGuest = value
            default:
                throw usage()
            }
        }
    }

    func usage() -> Failure { Failure(description: "usage: apus-bench-pio [--exits N] [--write-guest PATH]") }
}

struct Failure: Error, CustomStringConvertible { let description: String }

func benchmark(_ options: Options) throws {
    guard let guest = BuiltInGuests.named("piobench") else { throw Failure(description: "piobench guest missing") }
    if let path = options.writeGuest {
        try Data(guest.image).write(to: URL(fileURLWithPath: path))
        return
    }
    let hypervisor = KVMHypervisor()
    if case .unusable(let reason) = hypervisor.availability() { throw Failure(description: "KVM: \(reason)") }
    let memory = try GuestMemory(size: 2 << 20)
    try memory.write(guest.image, at: GuestAddress(0x8000))
    let machine = try hypervisor.makeMachine(memory: memory, options: MachineOptions())
    let vcpu = try machine.makeVCPU(index: 0)
    var registers = Registers()
    registers.rip = 0x8000
    try vcpu.setRegisters(registers)
    var special = try vcpu.specialRegisters()
    special.cs = Segment.realMode(selector: 0, code: true)
    special.ds = Segment.realMode(selector: 0)
    try vcpu.setSpecialRegisters(special)

    let post = PostCodePort()
    let ports = try IOBus(name: "port I/O").inserting(DeviceSlot(name: "post-code", device: post),
                                                      at: GuestRange(start: GuestAddress(0x80), size: 1))
    let dispatcher = ExitDispatcher(portBus: ports, mmioBus: IOBus(name: "MMIO"), unmappedPolicy: .fail)

    func roundTrips(_ count: Int) throws {
        for _ in 0..<count {
            guard case .portIO(let access) = try vcpu.run() else { throw Failure(description: "unexpected exit") }
            try dispatcher.dispatch(access)
        }
    }
    try roundTrips(1000)  // warm up: first entries fault in the guest's pages
    let start = DispatchTime.now().uptimeNanoseconds
    try roundTrips(options.exits)
    let elapsed = DispatchTime.now().uptimeNanoseconds - start
    print(String(format: "apus: %d exits, %.1f ns per round trip", options.exits,
                 Double(elapsed) / Double(options.exits)))
}

do {
    try benchmark(try Options(CommandLine.arguments))
} catch {
    FileHandle.standardError.write(Data("apus-bench-pio: \(error)\n".utf8))
    exit(1)
}
