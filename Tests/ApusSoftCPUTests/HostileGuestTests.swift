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
