import ApusCore
import ApusSoftCPU
import ApusTesting
import Foundation
import Synchronization
import Testing

/// Whatever a guest executes, the host process survives: random byte streams run in long mode, each ending in an
/// exit (a triple fault, an I/O exit, a halt) or interrupted by a watchdog's kick.
@Suite struct HostileGuestTests {
    @Test func randomCodeNeverCrashesTheHost() throws {
        var rng = SplitMix64(seed: 0xF022)
        var exits: [String: Int] = [:]
        for _ in 0..<2000 {
            let code = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let machine = try SoftCPUTestMachine(code: code, idtLimit: 0)
            let running = Atomic<Bool>(true)
            let kicker = machine.vcpu.kicker
            let watchdog = Thread {
                while running.load(ordering: .relaxed) {
                    Thread.sleep(forTimeInterval: 0.005)
                    kicker.kick()
                }
            }
            watchdog.start()
            for _ in 0..<64 {
                let exit = try machine.vcpu.run()
                exits[exit.kind, default: 0] += 1
                if case .portIO(let access) = exit, access.direction == .read { access.data.initializeMemory(as: UInt8.self, repeating: 0xFF) }
                if case .mmio(let access) = exit, access.direction == .read { access.data.initializeMemory(as: UInt8.self, repeating: 0xFF) }
                if ["shutdown", "halt", "interrupted"].contains(exit.kind) { break }
            }
            running.store(false, ordering: .relaxed)
        }
        print("random code: exits by kind \(exits.sorted { $0.key < $1.key })")
        #expect((exits["shutdown"] ?? 0) > 0)
    }

    @Test func aHugeRepeatedStoreStaysInterruptible() throws {
        // mov rcx, -1; mov rdi, 0x200000; rep stosb — would run for ages; a kick must still get through, and the
        // instruction must resume where it stopped.
        let code: [UInt8] = [0x48, 0xC7, 0xC1, 0xFF, 0xFF, 0xFF, 0xFF, 0x48, 0xC7, 0xC7, 0x00, 0x00, 0x20, 0x00,
                             0xF3, 0xAA]
        let machine = try SoftCPUTestMachine(code: code)
        let kicker = machine.vcpu.kicker
        Thread {
            Thread.sleep(forTimeInterval: 0.05)
            kicker.kick()
        }.start()
        let exit = try machine.vcpu.run()
        // Either the kick arrived, or the store ran off the end of RAM into MMIO first: both are clean exits.
        #expect(["interrupted", "mmio"].contains(exit.kind), "\(exit.kind)")
        let registers = try machine.vcpu.registers()
        #expect(registers.rip == SoftCPUTestMachine.codeBase + 14)   // still on the REP STOSB
        #expect(registers.rcx < UInt64.max && registers.rdi > 0x200000)
    }
}

/// A 16-bit SHLD/SHRD with a count of 17-31 (undefined result on hardware) once made the host shift by a negative
/// amount and trap: the equivalence suite's random bytes found it. It now gives what P6 and later give.
@Suite struct ShiftDoubleCountTests {
    @Test func sixteenBitShiftsPastTheOperandSizeDoNotCrashTheHost() throws {
        // mov eax, 0x1234; mov ebx, 0x5678; shld ax, bx, 20; mov ecx, eax; mov eax, 0x1234; shrd ax, bx, 20; hlt
        let code: [UInt8] = [0xB8, 0x34, 0x12, 0, 0, 0xBB, 0x78, 0x56, 0, 0, 0x66, 0x0F, 0xA4, 0xD8, 20, 0x89, 0xC1,
                             0xB8, 0x34, 0x12, 0, 0, 0x66, 0x0F, 0xAC, 0xD8, 20, 0xF4]
        let machine = try SoftCPUTestMachine(code: code)
        try machine.runToHalt()
        let registers = try machine.vcpu.registers()
        // dest:src:dest = 0x1234_5678_1234, shifted left (top 16 bits) or right (low 16 bits) by 20.
        #expect(registers.rcx == 0x6781)
        #expect(registers.rax == 0x4567)
    }
}
