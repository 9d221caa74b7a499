import ApusBoot
import ApusCore
import ApusSoftCPU
import Foundation
import Testing

/// Several software vCPUs of one machine on their own threads, sharing guest RAM: locked instructions are atomic
/// across them, and a store by one to code another is running is seen by the other without any serializing
/// instruction (cross-modifying code).
@Suite struct MultiVCPUTests {
    /// 4 MiB of RAM, every vCPU in 64-bit mode at its own entry with its own stack, no interrupt controller (HLT
    /// ends a vCPU's run).
    struct Machine {
        let memory: GuestMemory
        let vcpus: [any VCPUBackend]

        init(code: [(address: UInt64, bytes: [UInt8])], entries: [UInt64]) throws {
            memory = try GuestMemory(size: 4 << 20)
            for piece in code { try memory.write(piece.bytes, at: GuestAddress(piece.address)) }
            let machine = try SoftCPUHypervisor().makeMachine(memory: memory,
                                                             options: MachineOptions(vcpuCount: entries.count))
            var vcpus: [any VCPUBackend] = []
            for (index, entry) in entries.enumerated() {
                let vcpu = try machine.makeVCPU(index: index)
                let (registers0, special) = try EntryState.longMode(entry: entry, stack: 0x80000 - UInt64(index) * 0x8000,
                                                                   memory: memory)
                var registers = registers0
                registers.rflags = 2
                try vcpu.setSpecialRegisters(special)
                try vcpu.setRegisters(registers)
                vcpus.append(vcpu)
            }
            self.vcpus = vcpus
        }

        /// Runs every vCPU on a thread of its own until it halts; returns each one's last exit kind.
        func runAll() -> [String] {
            final class Results: @unchecked Sendable {   // each thread writes only its own slot; read after join
                var kinds: [String]
                init(_ count: Int) { kinds = Array(repeating: "", count: count) }
            }
            struct Unchecked<T>: @unchecked Sendable { let value: T }   // a vCPU is used by one thread only
            let results = Results(vcpus.count)
            let group = DispatchGroup()
            for (index, vcpu) in vcpus.enumerated() {
                group.enter()
                let box = Unchecked(value: vcpu)
                let thread = Thread {
                    defer { group.leave() }
                    do {
                        while true {
                            let exit = try box.value.run()
                            if case .interrupted = exit { continue }
                            results.kinds[index] = exit.kind
                            return
                        }
                    } catch {
                        results.kinds[index] = "error: \(error)"
                    }
                }
                thread.start()
            }
            group.wait()
            return results.kinds
        }

        func read32(_ address: UInt64) throws -> UInt32 { try memory.read(UInt32.self, at: GuestAddress(address)) }
        func read64(_ address: UInt64) throws -> UInt64 { try memory.read(UInt64.self, at: GuestAddress(address)) }
    }

    /// Each vCPU does 100,000 rounds of: LOCK XADD, LOCK INC, a plain INC under an XCHG spinlock, a LOCK CMPXCHG
    /// retry loop, a LOCK CMPXCHG16B retry loop, LOCK BTS then LOCK BTR. Any lost update shows in a total.
    @Test func lockedInstructionsAreAtomicAcrossVCPUs() throws {
        // guests-style source (assembled with the toolchain's clang, Intel syntax), at 0x100000:
        //     mov r8d, 100000
        // 1:  mov eax, 1 ; lock xadd [0x200000], eax ; lock inc dword [0x200008]
        // 2:  mov eax, 1 ; xchg [0x200010], eax ; test eax, eax ; jnz 2b      (take the spinlock)
        //     inc dword [0x200018] ; mov dword [0x200010], 0                 (plain increment, release)
        // 3:  mov eax, [0x200020] ; lea edx, [rax+1] ; lock cmpxchg [0x200020], edx ; jnz 3b
        // 4:  mov rax, [0x200030] ; mov rdx, [0x200038] ; lea rbx, [rax+1] ; mov rcx, rdx
        //     lock cmpxchg16b [0x200030] ; jnz 4b
        //     lock bts qword [0x200040], 0 ; lock btr qword [0x200040], 0
        //     dec r8d ; jnz 1b ; hlt
        let code: [UInt8] = [
            0x41, 0xB8, 0xA0, 0x86, 0x01, 0x00,
            0xB8, 0x01, 0x00, 0x00, 0x00,
            0xF0, 0x0F, 0xC1, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,
            0xF0, 0xFF, 0x04, 0x25, 0x08, 0x00, 0x20, 0x00,
            0xB8, 0x01, 0x00, 0x00, 0x00,
            0x87, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00,
            0x85, 0xC0,
            0x75, 0xF0,
            0xFF, 0x04, 0x25, 0x18, 0x00, 0x20, 0x00,
            0xC7, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x8B, 0x04, 0x25, 0x20, 0x00, 0x20, 0x00,
            0x8D, 0x50, 0x01,
            0xF0, 0x0F, 0xB1, 0x14, 0x25, 0x20, 0x00, 0x20, 0x00,
            0x75, 0xEB,
            0x48, 0x8B, 0x04, 0x25, 0x30, 0x00, 0x20, 0x00,
            0x48, 0x8B, 0x14, 0x25, 0x38, 0x00, 0x20, 0x00,
            0x48, 0x8D, 0x58, 0x01,
            0x48, 0x89, 0xD1,
            0xF0, 0x48, 0x0F, 0xC7, 0x0C, 0x25, 0x30, 0x00, 0x20, 0x00,
            0x75, 0xDD,
            0xF0, 0x48, 0x0F, 0xBA, 0x2C, 0x25, 0x40, 0x00, 0x20, 0x00, 0x00,
            0xF0, 0x48, 0x0F, 0xBA, 0x34, 0x25, 0x40, 0x00, 0x20, 0x00, 0x00,
            0x41, 0xFF, 0xC8,
            0x0F, 0x85, 0x71, 0xFF, 0xFF, 0xFF,
            0xF4,
        ]
        let vcpuCount = 3
        let machine = try Machine(code: [(0x100000, code)], entries: Array(repeating: 0x100000, count: vcpuCount))
        #expect(machine.runAll() == Array(repeating: "halt", count: vcpuCount))
        let total = UInt64(vcpuCount) * 100_000
        #expect(try machine.read32(0x200000) == UInt32(total), "LOCK XADD")
        #expect(try machine.read32(0x200008) == UInt32(total), "LOCK INC")
        #expect(try machine.read32(0x200010) == 0, "the XCHG spinlock is free")
        #expect(try machine.read32(0x200018) == UInt32(total), "INC under an XCHG spinlock")
        #expect(try machine.read32(0x200020) == UInt32(total), "LOCK CMPXCHG loop")
        #expect(try machine.read64(0x200030) == total && machine.read64(0x200038) == 0, "LOCK CMPXCHG16B loop")
        #expect(try machine.read64(0x200040) == 0, "LOCK BTS / LOCK BTR")
    }

    /// vCPU 0 loops on `mov eax, 0x11111111; cmp eax, 0x22222222; je out` (decoded once, then from its decode
    /// cache), counting iterations; vCPU 1 waits for 1,000 of them and then stores 0x22222222 over the immediate.
    /// vCPU 0 must leave the loop (without a serializing instruction), long before its 50,000,000-iteration bound.
    @Test func aStoreByOneVCPUReachesCodeAnotherIsRunning() throws {
        let looper: [UInt8] = [
            0x41, 0xB8, 0x80, 0xF0, 0xFA, 0x02,             // mov r8d, 50000000
            0xB8, 0x11, 0x11, 0x11, 0x11,                   // 1: mov eax, 0x11111111   (immediate at 0x100007)
            0x3D, 0x22, 0x22, 0x22, 0x22,                   // cmp eax, 0x22222222
            0x74, 0x0C,                                     // je out
            0xFF, 0x04, 0x25, 0x48, 0x00, 0x20, 0x00,       // inc dword [0x200048]
            0x41, 0xFF, 0xC8,                               // dec r8d
            0x75, 0xE8,                                     // jnz 1b
            0xF4,                                           // out: hlt
        ]
        let patcher: [UInt8] = [
            0x81, 0x3C, 0x25, 0x48, 0x00, 0x20, 0x00, 0xE8, 0x03, 0x00, 0x00,   // 1: cmp dword [0x200048], 1000
            0x72, 0xF3,                                                         // jb 1b
            0xC7, 0x04, 0x25, 0x07, 0x00, 0x10, 0x00, 0x22, 0x22, 0x22, 0x22,   // mov dword [0x100007], 0x22222222
            0xF4,                                                               // hlt
        ]
        let machine = try Machine(code: [(0x100000, looper), (0x101000, patcher)], entries: [0x100000, 0x101000])
        #expect(machine.runAll() == ["halt", "halt"])
        let looperRegisters = try machine.vcpus[0].registers()
        #expect(looperRegisters.rax == 0x2222_2222, "vCPU 0 still ran the old immediate")
        #expect(looperRegisters.r8 > 0, "vCPU 0 ran all its iterations on stale code")
        #expect(try machine.read32(0x200048) >= 1000)
    }

    /// Without a local APIC nothing can start an application processor: refused with the reason. (The start-up
    /// itself, and a pause or suspend while APs wait, are ApusVMMTests' SMPGuestTests.)
    @Test func anApplicationProcessorNeedsALocalAPIC() throws {
        let machine = try Machine(code: [(0x100000, [0xF4])], entries: [0x100000])
        #expect { try machine.vcpus[0].awaitStartup() } throws: { "\($0)".contains("local APIC") }
    }
}
