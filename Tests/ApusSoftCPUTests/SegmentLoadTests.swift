import ApusCore
import ApusSoftCPU
import Testing

/// The SDM's checks for loading DS, ES, FS and GS (MOV, POP, LDS/LES/LFS/LGS), one test per rule, each with the
/// exact exception and error code (the selector with RPL cleared), in 32-bit protected mode and 64-bit mode.
@Suite struct DataSegmentLoadTests {
    typealias M = SegmentMachine
    static let modes: [M.Mode] = [.protected32, .long64]

    @Test(arguments: modes) func aNullSelectorLoadsAnUnusableSegment(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ds, 0x0003))
        #expect(try machine.run() == .completed)
        let ds = try machine.special.ds
        #expect(ds.unusable && ds.selector == 0x0003, "\(ds)")
    }

    @Test(arguments: modes) func anIndexBeyondTheGDTLimitIsGP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ds, 0x0F03))
        #expect(try machine.run() == .gp(0x0F00))
    }

    @Test(arguments: modes) func aTISelectorReadsTheLDTAndSetsItsAccessedBit(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.es, M.localSelector(2, rpl: 3)))
        try machine.setLDT(2, M.descriptor(type: 0x2, dpl: 3, base: 0x0123_4000))
        #expect(try machine.run() == .completed)
        let es = try machine.special.es
        #expect(es.selector == 0x17 && es.base == 0x0123_4000 && es.type == 0x3 && es.dpl == 3, "\(es)")
        let accessByte = try machine.memory.read(UInt8.self, at: GuestAddress(M.ldt + 2 * 8 + 5))
        #expect(accessByte == 0xF3, "the LDT descriptor is marked accessed")
    }

    @Test(arguments: modes) func anIndexBeyondTheLDTLimitIsGP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ds, M.localSelector(M.ldtEntries, rpl: 3)))
        #expect(try machine.run() == .gp(UInt64(M.ldtEntries * 8 + 4)))
    }

    /// With LDTR null (LLDT 0), a TI=1 selector has no table to index: #GP(selector).
    @Test(arguments: modes) func aTISelectorWithoutAnLDTIsGP(_ mode: M.Mode) throws {
        let code = SegmentCode.loadAX(0) + SegmentCode.lldtAX + SegmentCode.load(SegmentCode.ds, M.localSelector(1))
        let machine = try M(mode, cpl: 0, code: code)
        try machine.setLDT(1, M.descriptor(type: 0x3))
        #expect(try machine.run() == .gp(0x0C))
        #expect(try machine.special.ldt.unusable)
    }

    @Test(arguments: modes) func aSystemDescriptorIsGP(_ mode: M.Mode) throws {
        for selector in [M.taskSelector, M.ldtSelector] {
            let machine = try M(mode, cpl: 0, code: SegmentCode.load(SegmentCode.fs, selector))
            #expect(try machine.run() == .gp(UInt64(selector)), "selector \(selector)")
        }
    }

    @Test(arguments: modes) func executeOnlyCodeIsGPAndReadableCodeLoads(_ mode: M.Mode) throws {
        let executeOnly = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.gs, M.gdtSelector(0, rpl: 3)))
        try executeOnly.setGDT(M.firstFreeSlot, M.descriptor(type: 0x9, dpl: 3))
        #expect(try executeOnly.run() == .gp(UInt64(M.gdtSelector(0))))
        let readable = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.gs, M.gdtSelector(0, rpl: 3)))
        try readable.setGDT(M.firstFreeSlot, M.descriptor(type: 0xB, dpl: 3))
        #expect(try readable.run() == .completed)
        #expect(try readable.special.gs.type == 0xB)
    }

    /// Data: DPL must be at least CPL (a ring-3 load of a ring-0 segment)...
    @Test(arguments: modes) func dataMorePrivilegedThanCPLIsGP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ds, M.kernelData | 3))
        #expect(try machine.run() == .gp(UInt64(M.kernelData)))
    }

    /// ...and at least RPL (a ring-0 load through an RPL-3 selector).
    @Test(arguments: modes) func dataMorePrivilegedThanRPLIsGP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 0, code: SegmentCode.load(SegmentCode.ds, M.kernelData | 3))
        #expect(try machine.run() == .gp(UInt64(M.kernelData)))
        let outward = try M(mode, cpl: 0, code: SegmentCode.load(SegmentCode.ds, M.userData & ~3))
        #expect(try outward.run() == .completed, "ring 0 may load a DPL-3 segment")
    }

    /// Readable non-conforming code follows the data rule; conforming code is loadable from any level.
    @Test(arguments: modes) func conformingCodeSkipsThePrivilegeCheck(_ mode: M.Mode) throws {
        let nonConforming = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ds, M.gdtSelector(0, rpl: 3)))
        try nonConforming.setGDT(M.firstFreeSlot, M.descriptor(type: 0xB, dpl: 0))
        #expect(try nonConforming.run() == .gp(UInt64(M.gdtSelector(0))))
        let conforming = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ds, M.gdtSelector(0, rpl: 3)))
        try conforming.setGDT(M.firstFreeSlot, M.descriptor(type: 0xF, dpl: 0))
        #expect(try conforming.run() == .completed)
    }

    /// Not present: #NP(selector) for every data register, after the type and privilege checks.
    @Test(arguments: modes) func aSegmentNotPresentIsNP(_ mode: M.Mode) throws {
        for register in [SegmentCode.ds, SegmentCode.es, SegmentCode.fs, SegmentCode.gs] {
            let machine = try M(mode, cpl: 3, code: SegmentCode.load(register, M.localSelector(5, rpl: 3)))
            try machine.setLDT(5, M.descriptor(type: 0x3, dpl: 3, present: false))
            #expect(try machine.run() == .np(0x2C), "register \(register)")
        }
        let privilegeFirst = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ds, M.localSelector(5, rpl: 3)))
        try privilegeFirst.setLDT(5, M.descriptor(type: 0x3, dpl: 0, present: false))
        #expect(try privilegeFirst.run() == .gp(0x2C))
    }

    @Test(arguments: modes) func loadingSetsTheAccessedBit(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 0, code: SegmentCode.load(SegmentCode.ds, M.gdtSelector(0)))
        try machine.setGDT(M.firstFreeSlot, M.descriptor(type: 0x2))
        #expect(try machine.run() == .completed)
        let accessByte = try machine.memory.read(UInt8.self, at: GuestAddress(M.gdt + UInt64(M.firstFreeSlot) * 8 + 5))
        #expect(accessByte == 0x93)
        #expect(try machine.special.ds.type == 0x3)
    }

    /// POP DS checks as MOV does and leaves ESP where it was when it faults.
    @Test func popDSFaultsWithoutMovingTheStack() throws {
        let code = SegmentCode.push32(UInt32(M.kernelData | 3)) + [0x1F]
        let machine = try M(.protected32, cpl: 3, code: code)
        #expect(try machine.run() == .gp(UInt64(M.kernelData)))
        #expect(try machine.frameWord(3, after: 1) == M.userStack - 4, "the user ESP in the #GP frame")
    }

    /// LDS and LES (32-bit) and LFS/LGS (both modes) load the selector before the register: a fault leaves the
    /// register as it was.
    @Test(arguments: modes) func farPointerLoadsCheckTheSelector(_ mode: M.Mode) throws {
        var forms: [[UInt8]] = [[0x0F, 0xB4], [0x0F, 0xB5]]
        if mode == .protected32 { forms += [[0xC5], [0xC4]] }
        for opcode in forms {
            // mov ebx, 0x11111111; l?s ebx, [data]
            let code = [0xBB, 0x11, 0x11, 0x11, 0x11] + opcode + SegmentCode.absolute(reg: 3, UInt32(M.data))
            let machine = try M(mode, cpl: 3, code: code)
            try machine.memory.write(UInt32(0x2222_2222), at: GuestAddress(M.data))
            try machine.memory.write(M.kernelData | 3, at: GuestAddress(M.data + 4))
            #expect(try machine.run() == .gp(UInt64(M.kernelData)), "\(opcode)")
            #expect(try machine.registers.rbx == 0x1111_1111, "\(opcode)")
            let good = try M(mode, cpl: 3, code: code)
            try good.memory.write(UInt32(0x2222_2222), at: GuestAddress(M.data))
            try good.memory.write(M.localSelector(2, rpl: 3), at: GuestAddress(M.data + 4))
            try good.setLDT(2, M.descriptor(type: 0x3, dpl: 3))
            #expect(try good.run() == .completed, "\(opcode)")
            #expect(try good.registers.rbx == 0x2222_2222, "\(opcode)")
        }
    }

    /// POP FS in 64-bit mode takes a null selector and gives an unusable FS.
    @Test func popFSInLongModeLoadsNull() throws {
        let machine = try M(.long64, cpl: 3, code: SegmentCode.push32(0) + [0x0F, 0xA1])
        #expect(try machine.run() == .completed)
        #expect(try machine.special.fs.unusable)
    }
}

/// SS (MOV SS, POP SS, LSS): RPL = DPL = CPL, writable data, present or #SS; null only in 64-bit mode below CPL 3.
@Suite struct StackSegmentLoadTests {
    typealias M = SegmentMachine
    static let modes: [M.Mode] = [.protected32, .long64]

    @Test func aNullStackSegmentIsGPOutside64BitMode() throws {
        let machine = try M(.protected32, cpl: 0, code: SegmentCode.load(SegmentCode.ss, 0))
        #expect(try machine.run() == .gp(0))
    }

    /// 64-bit mode: CPL 0 may load a null SS whose RPL is 0; CPL 3 may not, nor may RPL differ from CPL.
    @Test func aNullStackSegmentIn64BitMode() throws {
        let kernel = try M(.long64, cpl: 0, code: SegmentCode.load(SegmentCode.ss, 0))
        #expect(try kernel.run() == .completed)
        #expect(try kernel.special.ss.unusable)
        let user = try M(.long64, cpl: 3, code: SegmentCode.load(SegmentCode.ss, 3))
        #expect(try user.run() == .gp(0))
        let otherRPL = try M(.long64, cpl: 0, code: SegmentCode.load(SegmentCode.ss, 1))
        #expect(try otherRPL.run() == .gp(0))
    }

    @Test(arguments: modes) func rplOtherThanCPLIsGP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 0, code: SegmentCode.load(SegmentCode.ss, M.kernelData | 3))
        #expect(try machine.run() == .gp(UInt64(M.kernelData)))
    }

    @Test(arguments: modes) func dplOtherThanCPLIsGP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 0, code: SegmentCode.load(SegmentCode.ss, M.userData & ~3))
        #expect(try machine.run() == .gp(UInt64(M.userData & ~3)))
    }

    @Test(arguments: modes) func readOnlyDataOrCodeIsGP(_ mode: M.Mode) throws {
        for type: UInt8 in [0x1, 0xB] {
            let machine = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ss, M.gdtSelector(0, rpl: 3)))
            try machine.setGDT(M.firstFreeSlot, M.descriptor(type: type, dpl: 3))
            #expect(try machine.run() == .gp(UInt64(M.gdtSelector(0))), "type \(type)")
        }
    }

    @Test(arguments: modes) func aStackSegmentNotPresentIsSS(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: SegmentCode.load(SegmentCode.ss, M.localSelector(3, rpl: 3)))
        try machine.setLDT(3, M.descriptor(type: 0x3, dpl: 3, present: false))
        #expect(try machine.run() == .ss(0x1C))
    }

    /// LSS faults before it writes ESP; a good one loads SS from the LDT and ESP together.
    @Test func lssChecksTheStackSegment() throws {
        let code: [UInt8] = [0x0F, 0xB2] + SegmentCode.absolute(reg: 4, UInt32(M.data))
        let machine = try M(.protected32, cpl: 3, code: code)
        try machine.memory.write(UInt32(0x6000), at: GuestAddress(M.data))
        try machine.memory.write(M.localSelector(3, rpl: 3), at: GuestAddress(M.data + 4))
        try machine.setLDT(3, M.descriptor(type: 0x3, dpl: 3, present: false))
        #expect(try machine.run() == .ss(0x1C))
        #expect(try machine.frameWord(3, after: 1) == M.userStack, "ESP unchanged")
        let good = try M(.protected32, cpl: 3, code: code)
        try good.memory.write(UInt32(0x6000), at: GuestAddress(M.data))
        try good.memory.write(M.localSelector(3, rpl: 3), at: GuestAddress(M.data + 4))
        try good.setLDT(3, M.descriptor(type: 0x3, dpl: 3))
        #expect(try good.run() == .completed)
        #expect(try good.frameWord(3) == 0x6000 && good.frameWord(4) == UInt64(M.localSelector(3, rpl: 3)))
    }
}

/// LLDT and SLDT (SDM Vol. 2A, LLDT): an LDT descriptor from the GDT, 16 bytes in IA-32e mode.
@Suite struct LocalDescriptorTableTests {
    typealias M = SegmentMachine
    static let modes: [M.Mode] = [.protected32, .long64]

    /// LLDT loads LDTR from a second LDT descriptor; SLDT reads the selector back; TI=1 loads then index it.
    @Test(arguments: modes) func lldtSwitchesTheTableThatTISelectorsIndex(_ mode: M.Mode) throws {
        let selector = M.gdtSelector(2)
        let code = SegmentCode.loadAX(selector) + SegmentCode.lldtAX + [0x31, 0xC0] + SegmentCode.sldtEAX
            + [0x89, 0xC3] + SegmentCode.load(SegmentCode.ds, M.localSelector(1))   // mov ebx, eax
        let machine = try M(mode, cpl: 0, code: code)
        let table = SegmentDescriptorBytes.localTable(base: 0x6000, limit: 0xF)
        try machine.setGDT(M.firstFreeSlot + 2, table.low)
        try machine.setGDT(M.firstFreeSlot + 3, table.high)
        try machine.memory.write(M.descriptor(type: 0x3, base: 0x0055_0000), at: GuestAddress(0x6008))
        #expect(try machine.run() == .completed)
        let special = try machine.special
        #expect(special.ldt.selector == selector && special.ldt.base == 0x6000 && special.ldt.limit == 0xF,
                "\(special.ldt)")
        #expect(try machine.registers.rbx == UInt64(selector), "SLDT")
        #expect(special.ds.base == 0x0055_0000)
    }

    /// In IA-32e mode the descriptor's second half carries base bits 32-63.
    @Test func lldtIn64BitModeTakesTheUpperBase() throws {
        let code = SegmentCode.loadAX(M.gdtSelector(2)) + SegmentCode.lldtAX
        let machine = try M(.long64, cpl: 0, code: code)
        let table = SegmentDescriptorBytes.localTable(base: 0x0000_7F00_0000_6000, limit: 0xF)
        try machine.setGDT(M.firstFreeSlot + 2, table.low)
        try machine.setGDT(M.firstFreeSlot + 3, table.high)
        #expect(try machine.run() == .completed)
        #expect(try machine.special.ldt.base == 0x0000_7F00_0000_6000)
        let nonCanonical = try M(.long64, cpl: 0, code: code)
        let bad = SegmentDescriptorBytes.localTable(base: 0x8000_0000_0000_6000, limit: 0xF)
        try nonCanonical.setGDT(M.firstFreeSlot + 2, bad.low)
        try nonCanonical.setGDT(M.firstFreeSlot + 3, bad.high)
        #expect(try nonCanonical.run() == .gp(UInt64(M.gdtSelector(2))))
    }

    @Test(arguments: modes) func lldtRefusesWhatIsNotAnLDTInTheGDT(_ mode: M.Mode) throws {
        let cases: [(UInt16, SegmentMachine.Outcome)] = [
            (M.taskSelector, .gp(UInt64(M.taskSelector))),                 // a TSS
            (M.kernelData, .gp(UInt64(M.kernelData))),                     // a data segment
            (M.ldtSelector | 4, .gp(UInt64(M.ldtSelector | 4))),           // TI=1: LDT descriptors live in the GDT
            (0x0F00, .gp(0x0F00)),                                         // beyond the GDT's limit
        ]
        for (selector, outcome) in cases {
            let machine = try M(mode, cpl: 0, code: SegmentCode.loadAX(selector) + SegmentCode.lldtAX)
            #expect(try machine.run() == outcome, "selector \(selector)")
        }
    }

    @Test(arguments: modes) func lldtOfANotPresentLDTIsNP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 0, code: SegmentCode.loadAX(M.gdtSelector(2)) + SegmentCode.lldtAX)
        var table = SegmentDescriptorBytes.localTable(base: 0x6000, limit: 0xF)
        table.low &= ~(1 << 47)
        try machine.setGDT(M.firstFreeSlot + 2, table.low)
        try machine.setGDT(M.firstFreeSlot + 3, table.high)
        #expect(try machine.run() == .np(UInt64(M.gdtSelector(2))))
    }

    @Test(arguments: modes) func lldtAboveRingZeroIsGP(_ mode: M.Mode) throws {
        let machine = try M(mode, cpl: 3, code: SegmentCode.loadAX(M.ldtSelector) + SegmentCode.lldtAX)
        #expect(try machine.run() == .gp(0))
    }

    /// LAR and VERR see LDT descriptors through TI=1 selectors too.
    @Test(arguments: modes) func segmentQueriesReadTheLDT(_ mode: M.Mode) throws {
        // mov ax, sel; lar ebx, ax; verr ax
        let code = SegmentCode.loadAX(M.localSelector(2, rpl: 3)) + [0x0F, 0x02, 0xD8, 0x0F, 0x00, 0xE0]
        let machine = try M(mode, cpl: 3, code: code)
        try machine.setLDT(2, M.descriptor(type: 0x3, dpl: 3))
        #expect(try machine.run() == .completed)
        #expect(try machine.registers.rbx & 0xFFFF == 0xF300, "LAR's access rights")
        #expect(try machine.frameWord(2) & 0x40 != 0, "VERR sets ZF for a readable segment")
    }

    /// LAR, LSL, VERR and VERW clear ZF for a selector outside its table, but reading a table that is not mapped is a
    /// page fault like any other access (a supervisor read: error code 0), not a quiet ZF=0.
    @Test func segmentQueriesFaultWhenTheTableIsNotMapped() throws {
        // mov ax, 0x0C; then lar eax, ax / lsl eax, ax / verr ax / verw ax
        for query: [UInt8] in [[0x0F, 0x02, 0xC0], [0x0F, 0x03, 0xC0], [0x0F, 0x00, 0xE0], [0x0F, 0x00, 0xE8]] {
            let machine = try M(.long64, cpl: 0, code: SegmentCode.loadAX(0x0C) + query)
            var special = try machine.special
            special.ldt.base = 0x40_0000   // beyond the one 2 MiB page the machine maps
            try machine.vcpu.setSpecialRegisters(special)
            #expect(try machine.run() == M.Outcome(vector: 14, errorCode: 0), "\(query)")
            #expect(try machine.special.cr2 == 0x40_0008, "\(query)")
            // Beyond the LDT's limit instead: no fault, ZF clear, and the case completes.
            let outside = try M(.long64, cpl: 0, code: SegmentCode.loadAX(UInt16(M.ldtEntries * 8) | 4) + query)
            #expect(try outside.run() == .completed, "\(query)")
            #expect(try outside.frameWord(2) & 0x40 == 0, "\(query): ZF")
        }
    }
}

/// Far transfers and returns through LDT selectors, and what a return to an outer level does to the data segments.
@Suite struct FarTransferSegmentTests {
    typealias M = SegmentMachine

    /// JMP ptr16:32 to a code segment in the LDT, then a CALL through a call gate in the LDT.
    @Test func farJumpAndCallGateInTheLDT() throws {
        // jmp far 0x0C:8009; ud2; (8009:) call far 0x1C:0; ud2
        let code: [UInt8] = [0xEA, 0x09, 0x80, 0x00, 0x00, 0x0C, 0x00, 0x0F, 0x0B,
                             0x9A, 0x00, 0x00, 0x00, 0x00, 0x1C, 0x00, 0x0F, 0x0B]
        let machine = try M(.protected32, cpl: 0, code: code)
        try machine.setLDT(1, M.descriptor(type: 0xA))
        let target = M.code + UInt64(code.count)   // the INT 0x80 the machine appends
        try machine.setLDT(3, (target & 0xFFFF) | UInt64(M.kernelCode) << 16 | 0x8C << 40 | (target >> 16) << 48)
        #expect(try machine.run() == .completed)
        #expect(try machine.frameWord(1) == UInt64(M.kernelCode), "the gate's code segment")
        #expect(try machine.frameWord(3) == M.code + 16, "CALL's return address")
        #expect(try machine.frameWord(4) == 0x0C, "CALL pushed the LDT code segment's selector")
        let accessByte = try machine.memory.read(UInt8.self, at: GuestAddress(M.ldt + 8 + 5))
        #expect(accessByte == 0x9B, "the jump marked the LDT code segment accessed")
    }

    /// RETF to ring 3 nulls DS (a ring-0 data segment) and keeps ES (ring 3 data); SS comes from the stack.
    @Test func returnToAnOuterLevelNullsMorePrivilegedDataSegments() throws {
        let target = UInt32(M.code) + 6 + 20 + 1
        let code = SegmentCode.load(SegmentCode.es, M.userData) + SegmentCode.push32(UInt32(M.userData))
            + SegmentCode.push32(0x6000) + SegmentCode.push32(UInt32(M.userCode)) + SegmentCode.push32(target) + [0xCB]
        let machine = try M(.protected32, cpl: 0, code: code)
        #expect(try machine.run() == .completed)
        let special = try machine.special
        #expect(special.ds.unusable && special.ds.selector == 0, "\(special.ds)")
        #expect(special.es.selector == M.userData && !special.es.unusable)
        #expect(try machine.frameWord(1) == UInt64(M.userCode) && machine.frameWord(4) == UInt64(M.userData))
    }

    /// RETF may not return to a more privileged level (CS RPL < CPL): #GP(selector).
    @Test func returnInwardIsGP() throws {
        let code = SegmentCode.push32(UInt32(M.kernelCode)) + SegmentCode.push32(UInt32(M.code)) + [0xCB]
        let machine = try M(.protected32, cpl: 3, code: code)
        #expect(try machine.run() == .gp(UInt64(M.kernelCode)))
    }

    /// An outward RETF checks the popped SS against the new CPL: RPL 0 for ring 3 is #GP(selector), null #GP(0).
    @Test func returnToAnOuterLevelChecksTheStackSegment() throws {
        for (stack, outcome) in [(UInt32(M.userData & ~3), SegmentMachine.Outcome.gp(UInt64(M.userData & ~3))),
                                 (0, .gp(0))] {
            let code = SegmentCode.push32(stack) + SegmentCode.push32(0x6000) + SegmentCode.push32(UInt32(M.userCode))
                + SegmentCode.push32(UInt32(M.code)) + [0xCB]
            let machine = try M(.protected32, cpl: 0, code: code)
            #expect(try machine.run() == outcome, "SS \(stack)")
        }
    }

    /// IRETQ within ring 0 may pop a null SS (as after an interrupt from ring 3); to ring 3 it may not.
    @Test func iretqPopsANullStackSegmentOnlyBelowRingThree() throws {
        for (codeSelector, stack, outcome) in [(M.kernelCode, UInt16(0), SegmentMachine.Outcome.completed),
                                               (M.userCode, UInt16(3), .gp(0))] {
            let target = UInt32(M.code) + 5 * 5 + 2
            let code = SegmentCode.push32(UInt32(stack)) + SegmentCode.push32(0x6000) + SegmentCode.push32(2)
                + SegmentCode.push32(UInt32(codeSelector)) + SegmentCode.push32(target) + [0x48, 0xCF]
            let machine = try M(.long64, cpl: 0, code: code)
            #expect(try machine.run() == outcome, "CS \(codeSelector)")
        }
    }
}

/// LDT descriptors as the GDT holds them (16 bytes in IA-32e mode; the second half carries base bits 32-63).
enum SegmentDescriptorBytes {
    static func localTable(base: UInt64, limit: UInt32) -> (low: UInt64, high: UInt64) {
        let low = UInt64(limit & 0xFFFF) | (base & 0xFF_FFFF) << 16 | 0x82 << 40 | UInt64(limit >> 16 & 0xF) << 48
            | (base >> 24 & 0xFF) << 56
        return (low, base >> 32)
    }
}

extension SegmentCode {
    static let lldtAX: [UInt8] = [0x0F, 0x00, 0xD0]
    static let sldtEAX: [UInt8] = [0x0F, 0x00, 0xC0]
    /// PUSH imm32 (sign-extended to 64 bits in 64-bit mode).
    static func push32(_ value: UInt32) -> [UInt8] { [0x68] + (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

extension SegmentMachine {
    /// Word `index` of the frame the last gate pushed on the ring-0 stack (after `after` error-code words): EIP/RIP,
    /// CS, EFLAGS, then ESP and SS when the gate changed privilege (always in 64-bit mode).
    func frameWord(_ index: Int, after: Int = 0) throws -> UInt64 {
        let rsp = try registers.rsp
        if mode == .long64 { return try memory.read(UInt64.self, at: GuestAddress(rsp + UInt64((index + after) * 8))) }
        return UInt64(try memory.read(UInt32.self, at: GuestAddress(rsp + UInt64((index + after) * 4))))
    }
}
