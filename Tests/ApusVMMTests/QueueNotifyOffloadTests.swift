import ApusCore
import ApusDevices
import ApusDisk
import ApusKVM
import ApusTesting
@testable import ApusVMM
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// On KVM a disk's queue kicks leave the vCPU thread: the first one exits and registers an ioeventfd at the notify
/// register; the next one does not stop the vCPU at all, and the I/O thread serves the request. A held gate (a paused
/// machine) keeps the request out of guest memory until the queues are served on resume.
@Suite struct QueueNotifyOffloadTests {
    /// A liveness bound for the I/O thread, not a timing assertion.
    static let serviceLimit: TimeInterval = 30
    static let barBase: UInt64 = 0xE000_0000
    static var notifyAddress: UInt64 { barBase + VirtioPCIFunction.Layout.notifyOffset }

    @Test func secondKickIsServedByTheIOThreadWithoutAnExit() throws {
        if case .unusable(let reason) = KVMHypervisor().availability() {
            print("QueueNotifyOffloadTests: skipped, KVM is not usable here: \(reason)")
            return
        }
        let memory = try GuestMemory(size: 4 << 20)
        // mov word [fs:0], 0 (a 2-byte write of queue index 0 at FS's base, the notify register); hlt
        let code: [UInt8] = [0x64, 0xC7, 0x06, 0x00, 0x00, 0x00, 0x00, 0xF4]
        try memory.write(code, at: GuestAddress(0x8000))
        let machine = try #require(try KVMHypervisor().makeMachine(memory: memory, options: MachineOptions())
                                   as? KVMMachine)
        let path = "/tmp/apus-notify-offload-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).raw"
        defer { unlink(path) }
        let disk = try RawImage.create(path: path, size: 1 << 20)
        for sector in 0..<8 as Range<UInt8> {
            let bytes = [UInt8](repeating: 0xA0 + sector, count: 512)
            try bytes.withUnsafeBytes { try disk.write($0, at: UInt64(sector) * 512) }
        }
        let function = VirtioPCIFunction(model: VirtioBlock(disk: disk, serial: "offload"), memory: memory,
                                         interrupts: PCIInterruptOut(intx: RecordingInterruptLine(), msi: nil),
                                         name: "virtio-blk test")
        let bus = PCIBus()
        try bus.plug(function, device: 1)
        let (queue, _) = try VirtioFunctionSetup.driveToReady(function, bus: bus, memory: memory)
        bus.exclusively {
            function.writeConfig(offset: 0x10 + 4 * VirtioPCIFunction.Layout.configBar, size: 4,
                                 value: UInt32(truncatingIfNeeded: Self.barBase))
            function.writeConfig(offset: 0x14 + 4 * VirtioPCIFunction.Layout.configBar, size: 4, value: 0)
        }
        let gate = HostInputGate()
        let logged = Mutex<[String]>([])
        let offload = try QueueNotifyOffload(machine: machine, bus: bus, gate: gate, log: { line in
            print("offload: \(line)")
            logged.withLock { $0.append(line) }
        })
        defer { offload.stop() }
        offload.adopt(function)

        // 1: the kick arrives as an exit would deliver it (the PCI memory window), and is served at once.
        try post(read: 2, queue: queue, bus: bus, memory: memory)
        bus.windowWrite(io: false, address: Self.notifyAddress, size: 2, value: 0)
        #expect(try bus.exclusively { try queue.takeUsed() }.count == 1, "the exit-path kick served the request")
        #expect(try memory.readBytes(at: GuestAddress(0x20_1000), count: 512) == [UInt8](repeating: 0xA2, count: 512))
        guard offload.registeredQueues == 1 else {
            // The host refused KVM_IOEVENTFD: kicks stay exits, which is the documented fallback.
            print("QueueNotifyOffloadTests: no ioeventfd registered on this host; the exit path is all there is")
            return
        }

        // A kick KVM does not match (a 4-byte write) still exits; it must leave the registration as it is.
        try post(read: 1, queue: queue, bus: bus, memory: memory)
        bus.windowWrite(io: false, address: Self.notifyAddress, size: 4, value: 0)
        #expect(try bus.exclusively { try queue.takeUsed() }.count == 1, "the 4-byte kick was served on the exit path")
        #expect(offload.registeredQueues == 1 && logged.withLock { $0 }.isEmpty,
                "an exit at an already registered address neither re-registers nor gives up: \(logged.withLock { $0 })")

        // 2: the guest's own kick stays inside KVM (the vCPU runs on to HLT) and the I/O thread serves it.
        try post(read: 3, queue: queue, bus: bus, memory: memory)
        let vcpu = try machine.makeVCPU(index: 0)
        try enterRealMode(vcpu, fsBase: Self.notifyAddress)
        let exit = try vcpu.run()
        guard case .halt = exit else {
            Issue.record("the kick left KVM_RUN (\(exit.kind)) although an ioeventfd was registered")
            return
        }
        #expect(try waitForUsed(queue, bus: bus) == 1, "the I/O thread served the kick")
        #expect(try memory.readBytes(at: GuestAddress(0x20_1000), count: 512) == [UInt8](repeating: 0xA3, count: 512))

        // 3: with the gate held (a paused machine) a kick changes nothing until the queues are served on resume.
        try post(read: 4, queue: queue, bus: bus, memory: memory)
        bus.exclusively { gate.set(held: true) }
        var registers = try vcpu.registers()
        registers.rip = 0x8000
        try vcpu.setRegisters(registers)
        guard case .halt = try vcpu.run() else { Issue.record("the held kick left KVM_RUN"); return }
        // A broken gate on a very slow host could slip past this look, but a working one can never fail it.
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try bus.exclusively { try queue.takeUsed() }.isEmpty, "a request was served while the gate was held")
        bus.exclusively {
            gate.set(held: false)
            offload.serveEveryQueue(of: [function])
        }
        #expect(try bus.exclusively { try queue.takeUsed() }.count == 1, "resume served the held kick")
        #expect(try memory.readBytes(at: GuestAddress(0x20_1000), count: 512) == [UInt8](repeating: 0xA4, count: 512))

        // 4: the guest moves BAR 4. A kick at the old address is still caught; the thread serves the queue and drops
        // the stale registration, so the next kick, at the new address, exits and registers there.
        let moved = Self.barBase + 0x10_0000
        bus.exclusively {
            function.writeConfig(offset: 0x10 + 4 * VirtioPCIFunction.Layout.configBar, size: 4,
                                 value: UInt32(truncatingIfNeeded: moved))
        }
        try post(read: 5, queue: queue, bus: bus, memory: memory)
        registers.rip = 0x8000
        try vcpu.setRegisters(registers)
        guard case .halt = try vcpu.run() else { Issue.record("the kick at the old address left KVM_RUN"); return }
        #expect(try waitForUsed(queue, bus: bus) == 1, "the kick at the old address was served")
        #expect(try memory.readBytes(at: GuestAddress(0x20_1000), count: 512) == [UInt8](repeating: 0xA5, count: 512))
        #expect(offload.registeredQueues == 0, "the stale registration is gone")
        try enterRealMode(vcpu, fsBase: moved + VirtioPCIFunction.Layout.notifyOffset)
        let exitAtNewAddress = try vcpu.run()
        guard case .mmio(let access) = exitAtNewAddress else {
            Issue.record("a kick at the new address should exit first, got \(exitAtNewAddress.kind)")
            return
        }
        #expect(access.address == GuestAddress(moved + VirtioPCIFunction.Layout.notifyOffset))
        bus.windowWrite(io: false, address: access.address.rawValue, size: access.size, value: 0)
        #expect(offload.registeredQueues == 1, "registered again at the new address")

        offload.stop()
        #expect(offload.registeredQueues == 0, "stop deregisters every ioeventfd")
    }

    /// A virtio-blk read of one sector into 0x20_1000 (header at 0x20_0000, status at 0x20_2000).
    private func post(read sector: UInt64, queue: VirtqueueDriver, bus: PCIBus, memory: GuestMemory) throws {
        var header = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { header[8 + i] = UInt8(truncatingIfNeeded: sector >> (8 * UInt64(i))) }
        try memory.write(header, at: GuestAddress(0x20_0000))
        _ = try bus.exclusively {
            try queue.post([.readable(0x20_0000, 16), .writable(0x20_1000, 512), .writable(0x20_2000, 1)])
        }
    }

    private func waitForUsed(_ queue: VirtqueueDriver, bus: PCIBus) throws -> Int {
        let start = Date()
        while Date().timeIntervalSince(start) < Self.serviceLimit {
            let used = try bus.exclusively { try queue.takeUsed() }
            if !used.isEmpty { return used.count }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return 0
    }

    private func enterRealMode(_ vcpu: any VCPUBackend, fsBase: UInt64) throws {
        var special = try vcpu.specialRegisters()
        special.cs = Segment.realMode(selector: 0, code: true)
        special.ds = Segment.realMode(selector: 0)
        special.es = Segment.realMode(selector: 0)
        special.ss = Segment.realMode(selector: 0)
        special.fs = Segment(base: fsBase, limit: 0xFFFF, selector: 0, type: 3)
        try vcpu.setSpecialRegisters(special)
        var registers = Registers()
        registers.rip = 0x8000
        registers.rsp = 0x7000
        try vcpu.setRegisters(registers)
    }
}
