import ApusCore
@testable import ApusSoftCPU
import Foundation
import Testing

/// Writes made by the VMM and devices (GuestMemory's write paths, `withWritableBytes`) drop exactly the decoded code
/// on the pages they touch: the CPU runs the new bytes, and code elsewhere stays decoded (no whole-cache flush).
@Suite struct HostWrittenCodeTests {
    /// l: mov ebx, imm32; out 0x80, al; jmp l
    static let loop: [UInt8] = [0xBB, 0x11, 0x11, 0x11, 0x11, 0xE6, 0x80, 0xEB, 0xF7]
    static var codePage: Int { Int(SoftCPUTestMachine.codeBase >> 12) }

    private func runToPort(_ machine: SoftCPUTestMachine) throws -> UInt64 {
        guard case .portIO(let access) = try machine.vcpu.run(), access.port == 0x80 else {
            Issue.record("expected the port write")
            return 0
        }
        return try machine.vcpu.registers().rbx
    }

    private func core(_ machine: SoftCPUTestMachine) throws -> CPUCore {
        try #require(machine.vcpu as? SoftVCPU).core
    }

    @Test func aDeviceWriteIntoDecodedCodeRunsTheNewBytes() throws {
        let machine = try SoftCPUTestMachine(code: Self.loop)
        let cache = try core(machine).decoded
        #expect(try runToPort(machine) == 0x1111_1111)
        let flushes = cache.flushCount
        let before = cache.pageState(Self.codePage)
        #expect(before.holdsCode)
        // A device fills a buffer in place, as a disk read straight into guest memory would.
        try machine.memory.withWritableBytes(at: GuestAddress(SoftCPUTestMachine.codeBase + 1), count: 4) {
            $0.storeBytes(of: UInt32(0x5555_5555).littleEndian, as: UInt32.self)
        }
        #expect(try runToPort(machine) == 0x5555_5555)
        // Through a typed write as well (virtio's used rings and descriptor copies go this way).
        try machine.memory.write(UInt32(0x6666_6666), at: GuestAddress(SoftCPUTestMachine.codeBase + 1))
        #expect(try runToPort(machine) == 0x6666_6666)
        #expect(cache.flushCount == flushes)   // the page was invalidated, not the cache
        #expect(cache.pageState(Self.codePage).generation == before.generation + 2)
    }

    @Test func anUnrelatedWriteKeepsTheDecodedCode() throws {
        let machine = try SoftCPUTestMachine(code: Self.loop)
        let cache = try core(machine).decoded
        #expect(try runToPort(machine) == 0x1111_1111)
        let flushes = cache.flushCount
        let before = cache.pageState(Self.codePage)
        for round in 0..<3 {
            try machine.memory.fill(UInt8(round), at: GuestAddress(0x200000), count: 0x3000)
            #expect(try runToPort(machine) == 0x1111_1111)
        }
        #expect(cache.flushCount == flushes)
        #expect(cache.pageState(Self.codePage) == before)
        let physical = SoftCPUTestMachine.codeBase
        let mode = try core(machine).decodingMode
        #expect(cache.lookup(physical, page: Self.codePage, mode: mode) != nil)
    }

    /// A thread that never interrupts the CPU (a network receive pump) rewrites code the CPU is spinning on: the CPU
    /// takes the write at its next kick-check batch and leaves the loop, within the same run().
    @Test func aWriteByAnotherThreadWhileTheCPURunsIsSeen() throws {
        // l: inc dword [0x200000]; mov eax, 0x11111111; cmp eax, 0x22222222; jne l; hlt
        let code: [UInt8] = [0xFF, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xB8, 0x11, 0x11, 0x11, 0x11,
                             0x3D, 0x22, 0x22, 0x22, 0x22, 0x75, 0xED, 0xF4]
        let machine = try SoftCPUTestMachine(code: code)
        let memory = machine.memory
        let kicker = machine.vcpu.kicker
        let finished = DispatchSemaphore(value: 0)
        let writer = Thread {
            // Wait until the loop is running (its counter moves), so the write lands mid-run, not before run().
            while ((try? memory.read(UInt32.self, at: GuestAddress(0x200000))) ?? 0) < 10_000 { usleep(100) }
            try? memory.write(UInt32(0x2222_2222), at: GuestAddress(SoftCPUTestMachine.codeBase + 8))
            // A safety net so a regression fails instead of spinning for ever; the CPU needs microseconds.
            if finished.wait(timeout: .now() + 300) == .timedOut { kicker.kick() }
        }
        writer.start()
        let exit = try machine.vcpu.run()
        finished.signal()
        #expect(exit.kind == "halt")
        #expect(try machine.vcpu.registers().rax == 0x2222_2222)
    }
}
