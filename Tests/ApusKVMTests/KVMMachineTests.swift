import ApusCore
import ApusKVM
import Foundation
import Synchronization
import Testing

/// VM-level features: availability reasons, error messages, the dirty log, the clock, interrupt lines.
@Suite struct KVMMachineTests {
    @Test func absentDeviceIsUnusableWithAReason() {
        guard case .unusable(let reason) = KVMHypervisor(devicePath: "/nonexistent/kvm").availability() else {
            Issue.record("a missing device must be unusable")
            return
        }
        #expect(reason.contains("/nonexistent/kvm does not exist"))
    }

    @Test func aDeviceThatIsNotKVMIsUnusableWithAReason() {
        guard case .unusable(let reason) = KVMHypervisor(devicePath: "/dev/null").availability() else {
            Issue.record("/dev/null must not pass for KVM")
            return
        }
        #expect(reason.contains("API version"))
    }

    @Test func ioctlErrorsNameTheIoctlAndErrno() {
        let error = KVMError.ioctl(name: "KVM_SET_USER_MEMORY_REGION", errno: EINVAL)
        #expect(error.description == "KVM_SET_USER_MEMORY_REGION failed: Invalid argument (errno 22)")
    }

    @Test func dirtyLogListsThePagesTheGuestWrote() throws {
        // mov byte [0x5000], 1; mov byte [0x7123], 2; hlt
        let code: [UInt8] = [0xC6, 0x06, 0x00, 0x50, 0x01, 0xC6, 0x06, 0x23, 0x71, 0x02, 0xF4]
        guard let t = try KVMTestMachine.make("dirtyLog", code: code) else { return }
        // Without logging enabled KVM refuses, and the error says which ioctl.
        #expect(throws: KVMError.ioctl(name: "KVM_GET_DIRTY_LOG", errno: ENOENT)) { try t.machine.dirtyPages(slot: 0) }
        #expect(throws: KVMError.self) { try t.machine.dirtyPages(slot: 7) }
        try t.machine.enableDirtyLogging()
        _ = try t.machine.dirtyPages(slot: 0)  // start from a clean log
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT"); return }
        let dirty = try t.machine.dirtyPages(slot: 0)
        #expect(dirty.contains(5) && dirty.contains(7))
        #expect(!dirty.contains(0x100))
        #expect(try t.machine.dirtyPages(slot: 0).isEmpty)  // handing the log over clears it
    }

    @Test func clockCanBeSetAndKeepsRunning() throws {
        guard let t = try KVMTestMachine.make("clock", code: [0xF4]) else { return }
        let start: UInt64 = 5_000_000_000_000
        try t.machine.setClock(start)
        #expect(try t.machine.clock() >= start)
    }

    @Test func theSplitIRQChipTakesMSIsAndIOAPICRoutes() throws {
        guard let t = try KVMTestMachine.make("splitIRQChip", code: [0xF4], options: MachineOptions(interruptController: .full))
        else { return }
        #expect(t.machine.needsExternalInterruptController && t.machine.keepsLocalAPICsOnly)
        #expect(!t.machine.needsLocalAPICs, "the LAPICs are the kernel's")
        // The MSI seam on KVM: a well-formed message reaches KVM_SIGNAL_MSI, a malformed one is dropped.
        let sink = try #require(t.machine.msiSink)
        #expect(sink.deliver(MSIMessage(vector: 0x31, destination: 0)))
        #expect(!sink.deliver(MSIMessage(address: 0xFED0_0000, data: 0x31)))
        // One MSI route per IOAPIC pin: KVM takes the table (a refusal would reach the diagnostics handler).
        let complaints = Mutex<[String]>([])
        t.machine.setDiagnosticsHandler { message in complaints.withLock { $0.append(message) } }
        var routes = Array(repeating: MSIMessage(vector: 0, destination: 0), count: 24)
        routes[4] = MSIMessage(vector: 0x52, destination: 0, levelTriggered: true)
        t.machine.ioapicRoutesChanged(routes)
        #expect(complaints.withLock { $0 }.isEmpty)
        // Without a connected 8259A a line goes nowhere rather than failing.
        try t.machine.interruptLine(4).pulse()
    }
}
