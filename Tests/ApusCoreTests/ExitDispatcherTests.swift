import ApusCore
import ApusTesting
import Testing

@Suite struct ExitDispatcherTests {
    private func dispatcher(policy: UnmappedAccessPolicy) throws -> (ExitDispatcher, RegisterFileDevice, RegisterFileDevice) {
        let uart = RegisterFileDevice(size: 8)
        let mmio = RegisterFileDevice(size: 0x100)
        let ports = try IOBus(name: "port I/O")
            .inserting(DeviceSlot(name: "regs", device: uart), at: GuestRange(start: GuestAddress(0x3F8), size: 8))
        let memoryBus = try IOBus(name: "MMIO")
            .inserting(DeviceSlot(name: "mmio", device: mmio), at: GuestRange(start: GuestAddress(0xD000_0000), size: 0x100))
        return (ExitDispatcher(portBus: ports, mmioBus: memoryBus, unmappedPolicy: policy), uart, mmio)
    }

    @Test func portWritesReachTheDeviceAtItsOffset() throws {
        let (dispatcher, uart, _) = try dispatcher(policy: .fail)
        let vcpu = ScriptedVCPU(steps: [.portWrite(port: 0x3FB, bytes: [0x83]), .portRead(port: 0x3FB, size: 1)])
        guard case .portIO(let write) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        try dispatcher.dispatch(write)
        guard case .portIO(let read) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        try dispatcher.dispatch(read)
        _ = try vcpu.run()
        #expect(uart.accesses.first == .init(offset: 3, size: 1, value: 0x83, isWrite: true))
        #expect(vcpu.completedReads == [[0x83]])
    }

    @Test func mmioReadsAreCompletedWithDeviceData() throws {
        let (dispatcher, _, mmio) = try dispatcher(policy: .fail)
        mmio.write(offset: 0x10, size: 8, value: 0x0102_0304_0506_0708)
        let vcpu = ScriptedVCPU(steps: [.mmioRead(address: 0xD000_0010, size: 8)])
        guard case .mmio(let read) = try vcpu.run() else { Issue.record("expected MMIO"); return }
        try dispatcher.dispatch(read)
        _ = try vcpu.run()
        #expect(vcpu.completedReads == [[8, 7, 6, 5, 4, 3, 2, 1]])
    }

    @Test func unmappedAccessFollowsThePolicy() throws {
        let (strict, _, _) = try dispatcher(policy: .fail)
        let (lenient, _, _) = try dispatcher(policy: .ignore)
        let vcpu = ScriptedVCPU(steps: [.portRead(port: 0x1234, size: 2), .portRead(port: 0x1234, size: 2)])
        guard case .portIO(let first) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        #expect(throws: DispatchError.unmapped(bus: "port I/O", address: 0x1234, direction: .read, size: 2)) {
            try strict.dispatch(first)
        }
        guard case .portIO(let second) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        try lenient.dispatch(second)
        _ = try vcpu.run()
        #expect(vcpu.completedReads.last == [0xFF, 0xFF])
    }

    @Test func repeatedStringIOPerformsEveryAccess() throws {
        let (dispatcher, uart, _) = try dispatcher(policy: .fail)
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: 3, alignment: 1)
        defer { data.deallocate() }
        data.copyBytes(from: [0x61, 0x62, 0x63])
        try dispatcher.dispatch(PortIOExit(port: 0x3F8, size: 1, count: 3, direction: .write, data: data))
        #expect(uart.accesses.map(\.value) == [0x61, 0x62, 0x63])
    }

    @Test func malformedExitsAreRejectedNotTrusted() throws {
        let (dispatcher, _, _) = try dispatcher(policy: .ignore)
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: 2, alignment: 1)
        defer { data.deallocate() }
        #expect(throws: DispatchError.self) {
            try dispatcher.dispatch(PortIOExit(port: 0x3F8, size: 1, count: 3, direction: .write, data: data))
        }
        #expect(throws: DispatchError.self) {
            try dispatcher.dispatch(MMIOExit(address: GuestAddress(0xD000_0000), size: 3, direction: .read, data: data))
        }
    }

    @Test func busLookupFindsEveryRangeAndRejectsOverlap() throws {
        var bus = IOBus(name: "port I/O")
        for base in stride(from: UInt64(0x100), to: 0x200, by: 0x10) {
            bus = try bus.inserting(DeviceSlot(name: "dev\(base)", device: RegisterFileDevice(size: 4)),
                                    at: GuestRange(start: GuestAddress(base), size: 4))
        }
        #expect(bus.resolve(0x130)?.offset == 0)
        #expect(bus.resolve(0x133)?.slot.name == "dev304")
        #expect(bus.resolve(0x134) == nil)
        #expect(bus.resolve(0xFF) == nil)
        #expect(throws: BusError.self) {
            try bus.inserting(DeviceSlot(name: "clash", device: RegisterFileDevice(size: 4)),
                              at: GuestRange(start: GuestAddress(0x132), size: 4))
        }
    }
}
