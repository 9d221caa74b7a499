import ApusBoot
import ApusCore
@testable import ApusSoftCPU
import Testing

/// What happens when delivering an event itself faults (SDM Vol. 3, 6.13 and 6.15): the second exception's error code
/// carries EXT (bit 0) when the first event was external to the program (an interrupt, an earlier exception, INT1)
/// and not when the program asked for it (INT n, INT3, INTO); Table 6-5 decides between handling the second
/// exception serially and a double fault.
@Suite struct ExceptionDeliveryTests {
    typealias M = SegmentMachine
    static let modes: [M.Mode] = [.protected32, .long64]

    /// Marks `vector`'s IDT gate not present.
    private func removeGate(_ vector: Int, _ machine: M) throws {
        let address = GuestAddress(M.idt + UInt64(vector) * (machine.mode == .long64 ? 16 : 8))
        let low = try machine.memory.read(UInt64.self, at: address)
        try machine.memory.write(low & ~(UInt64(1) << 47), at: address)
    }

    /// Points `vector`'s gate at `selector` instead of the kernel code segment.
    private func retarget(_ vector: Int, to selector: UInt16, _ machine: M) throws {
        let address = GuestAddress(M.idt + UInt64(vector) * (machine.mode == .long64 ? 16 : 8))
        let low = try machine.memory.read(UInt64.self, at: address)
        try machine.memory.write(low & ~(0xFFFF << 16) | UInt64(selector) << 16, at: address)
    }

    private func core(_ machine: M) throws -> CPUCore { try #require(machine.vcpu as? SoftVCPU).core }

    /// An external interrupt through a gate that is not present: #NP(vector * 8 + IDT + EXT).
    @Test(arguments: modes) func anInterruptThroughAMissingGateIsNPWithEXT(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: [0x90])
        try removeGate(0x40, machine)
        #expect(try core(machine).deliverExternal(0x40) == .delivered)
        #expect(try machine.run() == .np(0x40 * 8 + 2 + 1))
        #expect(try machine.frameWord(0, after: 1) == M.code, "the interrupted instruction")
    }

    /// #UD is benign: a #NP while delivering it is delivered serially (not #DF), with EXT.
    @Test(arguments: modes) func aFaultWhileDeliveringABenignExceptionIsDeliveredWithEXT(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: [0x0F, 0x0B])
        try removeGate(6, machine)
        #expect(try machine.run() == .np(6 * 8 + 2 + 1))
        #expect(try machine.frameWord(0, after: 1) == M.code, "the UD2")
    }

    /// #GP while delivering #GP (both contributory) is a double fault with error code 0.
    @Test(arguments: modes) func aContributoryFaultWhileDeliveringAContributoryOneIsDF(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: [0xF4])   // HLT at CPL 3: #GP(0)
        try removeGate(13, machine)
        #expect(try machine.run() == M.Outcome(vector: 8, errorCode: 0))
    }

    /// A fault while delivering #DF shuts the CPU down.
    @Test func aFaultWhileDeliveringDFShutsDown() throws {
        let machine = try M(.long64, cpl: 3, code: [0xF4])
        try removeGate(13, machine)
        try removeGate(8, machine)
        let exit = try machine.vcpu.run()
        guard case .shutdown = exit else {
            Issue.record("expected a shutdown, got \(exit.kind)")
            return
        }
    }

    /// INT n is the program's own request: a fault delivering it has no EXT, and its frame points at the INT.
    @Test(arguments: modes) func softwareInterruptFaultsHaveNoEXT(_ mode: M.Mode) throws {
        let privileged = try M(mode, cpl: 3, code: [0x90, 0xCD, 0x41])   // a DPL-0 gate from ring 3
        #expect(try privileged.run() == .gp(0x41 * 8 + 2))
        #expect(try privileged.frameWord(0, after: 1) == M.code + 1, "the INT instruction")
        let missing = try M(mode, cpl: 3, code: [0x90, 0xCD, 0x80])
        try removeGate(0x80, missing)
        #expect(try missing.run() == .np(0x80 * 8 + 2))
        #expect(try missing.frameWord(0, after: 1) == M.code + 1, "the INT instruction")
        #expect(try missing.frameWord(3, after: 1) == M.userStack, "the stack the INT found")
    }

    /// INT1 (ICEBP) counts as a hardware event: EXT is set.
    @Test(arguments: modes) func int1FaultsCarryEXT(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: [0xF1])
        try removeGate(1, machine)
        #expect(try machine.run() == .np(1 * 8 + 2 + 1))
    }

    /// A code-segment fault on the way (the gate's selector names data) carries EXT after an exception, with the
    /// selector as the error code.
    @Test(arguments: modes) func aBadHandlerSegmentAfterAnExceptionIsGPWithSelectorAndEXT(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: [0x0F, 0x0B])
        try retarget(6, to: M.kernelData, machine)
        // #GP during #UD's delivery is delivered serially; its own gate is intact.
        #expect(try machine.run() == .gp(UInt64(M.kernelData) | 1))
    }

    /// In IA-32e mode a gate's target must be 64-bit code: L and D both set is #GP(vector * 8 + IDT (+ EXT)).
    @Test func aLongModeGateIntoCodeWithLAndDIsGP() throws {
        let machine = try M(.long64, cpl: 3, code: [0x0F, 0x0B])
        try machine.setGDT(M.firstFreeSlot, SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0xB, s: true, dpl: 0,
                                                              l: true, db: true, g: true).low)
        try retarget(6, to: M.gdtSelector(0), machine)
        #expect(try machine.run() == .gp(6 * 8 + 2 + 1))
        // The same gate from INT n (no EXT): user gate 0x80 into the same segment.
        let software = try M(.long64, cpl: 3, code: [0xCD, 0x80])
        try software.setGDT(M.firstFreeSlot, SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0xB, s: true, dpl: 0,
                                                               l: true, db: true, g: true).low)
        try retarget(0x80, to: M.gdtSelector(0), software)
        #expect(try software.run() == .gp(0x80 * 8 + 2))
    }
}

/// Far JMP, CALL, RET and IRET to a code segment with both L and D set in IA-32e mode, directly or through a call
/// gate: #GP(selector), for JMP/CALL before privilege and presence (SDM Vol. 2, JMP, CALL, RET, IRET); the same
/// segment with D clear is a fine target.
@Suite struct LongModeCodeTargetTests {
    typealias M = SegmentMachine

    static func code(l: Bool, d: Bool, dpl: UInt8 = 0, present: Bool = true) -> UInt64 {
        SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0xB, s: true, dpl: dpl, present: present, l: l, db: d, g: true).low
    }

    /// JMP/CALL m16:32 through [data] to the INT 0x80 the machine appends.
    private func farThroughMemory(_ reg: UInt8, descriptor: UInt64, rpl: UInt16 = 0) throws -> M.Outcome {
        let code: [UInt8] = [0xFF] + SegmentCode.absolute(reg: reg, UInt32(M.data))
        let machine = try M(.long64, cpl: 0, code: code)
        try machine.setGDT(M.firstFreeSlot, descriptor)
        try machine.memory.write(UInt32(M.code) + UInt32(code.count), at: GuestAddress(M.data))
        try machine.memory.write(M.gdtSelector(0, rpl: rpl), at: GuestAddress(M.data + 4))
        return try machine.run()
    }

    @Test(arguments: [UInt8(3), 5]) func farJumpAndCallRefuseLAndD(_ reg: UInt8) throws {
        let selector = UInt64(M.gdtSelector(0))
        #expect(try farThroughMemory(reg, descriptor: Self.code(l: true, d: true)) == .gp(selector))
        // Before the presence check: not present still gives #GP, not #NP.
        #expect(try farThroughMemory(reg, descriptor: Self.code(l: true, d: true, present: false)) == .gp(selector))
        #expect(try farThroughMemory(reg, descriptor: Self.code(l: true, d: false)) == .completed)
        #expect(try farThroughMemory(reg, descriptor: Self.code(l: false, d: true)) == .completed)
    }

    /// IRETQ to the same segment: #GP(selector); with D clear it returns.
    @Test func interruptReturnRefusesLAndD() throws {
        let target = UInt32(M.code) + 5 * 5 + 2
        let code = SegmentCode.push32(UInt32(M.kernelData)) + SegmentCode.push32(0x6000) + SegmentCode.push32(2)
            + SegmentCode.push32(UInt32(M.gdtSelector(0))) + SegmentCode.push32(target) + [0x48, 0xCF]
        for (d, outcome) in [(true, M.Outcome.gp(UInt64(M.gdtSelector(0)))), (false, .completed)] {
            let machine = try M(.long64, cpl: 0, code: code)
            try machine.setGDT(M.firstFreeSlot, Self.code(l: true, d: d))
            #expect(try machine.run() == outcome, "D \(d)")
        }
    }

    /// A far CALL through a 64-bit call gate whose code segment has L and D: #GP(code selector).
    @Test func aCallGateIntoLAndDIsGP() throws {
        for (d, outcome) in [(true, M.Outcome.gp(UInt64(M.gdtSelector(0)))), (false, .completed)] {
            let code: [UInt8] = [0xFF] + SegmentCode.absolute(reg: 3, UInt32(M.data))
            let machine = try M(.long64, cpl: 0, code: code)
            let target = M.code + UInt64(code.count)
            try machine.setGDT(M.firstFreeSlot, Self.code(l: true, d: d))
            try machine.setGDT(M.firstFreeSlot + 1, (target & 0xFFFF) | UInt64(M.gdtSelector(0)) << 16 | 0x8C << 40
                               | (target >> 16 & 0xFFFF) << 48)
            try machine.setGDT(M.firstFreeSlot + 2, target >> 32)
            try machine.memory.write(UInt32(0), at: GuestAddress(M.data))
            try machine.memory.write(M.gdtSelector(1), at: GuestAddress(M.data + 4))
            #expect(try machine.run() == outcome, "D \(d)")
        }
    }

    /// RETF (REX.W) to the same segment: #GP(selector).
    @Test func farReturnRefusesLAndD() throws {
        let target = UInt32(M.code) + 5 + 5 + 2
        let code = SegmentCode.push32(UInt32(M.gdtSelector(0))) + SegmentCode.push32(target) + [0x48, 0xCB]
        let machine = try M(.long64, cpl: 0, code: code)
        try machine.setGDT(M.firstFreeSlot, Self.code(l: true, d: true))
        #expect(try machine.run() == .gp(UInt64(M.gdtSelector(0))))
        let good = try M(.long64, cpl: 0, code: code)
        try good.setGDT(M.firstFreeSlot, Self.code(l: true, d: false))
        #expect(try good.run() == .completed)
    }
}
