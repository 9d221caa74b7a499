import ApusBoot
import ApusCore
import ApusSoftCPU
import Testing

/// 64-bit interrupt and exception delivery (SDM Vol. 2, INT n, IA-32e mode; Vol. 3, 6.14): the handler runs at its
/// code segment's DPL when that is more privileged and not conforming (on RSPn of the TSS), at CPL otherwise; the
/// TSS entries it reads must lie within the TSS limit (#TS(TSS selector)); the handler's RIP must be canonical.
@Suite struct LongModeDeliveryTests {
    typealias M = SegmentMachine

    /// A 64-bit code segment at `dpl` in the first free GDT slot, and gate `vector` (DPL 3, interrupt gate) to its
    /// stub with that selector and `ist`.
    private func machine(code: [UInt8], vector: Int, handlerDPL: UInt8, ist: UInt64 = 0) throws -> M {
        let machine = try M(.long64, cpl: 3, code: code)
        try machine.setGDT(M.firstFreeSlot, SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0xB, s: true,
                                                              dpl: handlerDPL, l: true, db: false, g: true).low)
        let handler = M.stubs + UInt64(vector)
        let low = (handler & 0xFFFF) | UInt64(M.gdtSelector(0)) << 16 | ist << 32 | 0xEE << 40 | (handler >> 16 & 0xFFFF) << 48
        try machine.memory.write(low, at: GuestAddress(M.idt + UInt64(vector) * 16))
        try machine.memory.write(UInt64(0x6000), at: GuestAddress(M.tss + 12))   // RSP1
        return machine
    }

    private func limitTSS(_ machine: M, to limit: UInt32) throws {
        var special = try machine.special
        special.tr.limit = limit
        try machine.vcpu.setSpecialRegisters(special)
    }

    /// INT 0x81 from ring 3 into DPL-3 code stays in ring 3 on the same stack: the handler's HLT is then #GP(0),
    /// whose frame shows CS with RPL 3 and the INT frame on the user stack.
    @Test func aHandlerAtTheSameLevelKeepsCPL() throws {
        let machine = try machine(code: [0xCD, 0x81], vector: 0x81, handlerDPL: 3)
        #expect(try machine.run() == .gp(0))
        #expect(try machine.frameWord(0, after: 1) == M.stubs + 0x81, "the handler's HLT")
        #expect(try machine.frameWord(1, after: 1) == UInt64(M.gdtSelector(0, rpl: 3)))
        #expect(try machine.frameWord(3, after: 1) == M.userStack - 40, "the INT frame on the user stack")
        #expect(try machine.frameWord(4, after: 1) == UInt64(M.userData), "SS unchanged")
    }

    /// Into DPL-1 code from ring 3: CPL 1 on RSP1, SS null with RPL 1.
    @Test func anInwardHandlerRunsAtItsDPLOnThatLevelsStack() throws {
        let machine = try machine(code: [0xCD, 0x81], vector: 0x81, handlerDPL: 1)
        #expect(try machine.run() == .gp(0))
        #expect(try machine.frameWord(1, after: 1) == UInt64(M.gdtSelector(0, rpl: 1)))
        #expect(try machine.frameWord(3, after: 1) == 0x6000 - 40, "the INT frame on RSP1")
        #expect(try machine.frameWord(4, after: 1) == 1, "a null SS with RPL 1")
    }

    /// RSP1 beyond the TSS limit: #TS(TSS selector), without EXT after INT n.
    @Test func aStackPointerBeyondTheTSSLimitIsTS() throws {
        let machine = try machine(code: [0xCD, 0x81], vector: 0x81, handlerDPL: 1)
        try limitTSS(machine, to: 0x0B)   // RSP0 still inside
        #expect(try machine.run() == M.Outcome(vector: 10, errorCode: UInt64(M.taskSelector)))
        #expect(try machine.frameWord(0, after: 1) == M.code, "the INT instruction")
    }

    /// An IST entry beyond the TSS limit while delivering #UD: #TS(TSS selector + EXT).
    @Test func anISTEntryBeyondTheTSSLimitIsTSWithEXT() throws {
        let machine = try machine(code: [0x0F, 0x0B], vector: 6, handlerDPL: 0, ist: 1)
        try limitTSS(machine, to: 0x23)
        #expect(try machine.run() == M.Outcome(vector: 10, errorCode: UInt64(M.taskSelector) | 1))
    }

    /// A gate whose 64-bit offset is not canonical: #GP(0 + EXT) after #UD, before anything is pushed.
    @Test func aNonCanonicalHandlerIsGP() throws {
        let machine = try machine(code: [0x0F, 0x0B], vector: 6, handlerDPL: 0)
        try machine.memory.write(UInt64(0x8000), at: GuestAddress(M.idt + 6 * 16 + 8))
        #expect(try machine.run() == .gp(1))
        #expect(try machine.frameWord(3, after: 1) == M.userStack, "the user stack untouched")
    }
}
