import ApusCore
@testable import ApusSoftCPU
import Testing

/// The dispatch table built from the opcode maps: it alone decides #UD for modes, LOCK, ModRM forms, reserved slots
/// and entries without a handler, and every entry the model advertises has a handler.
@Suite struct DispatchTableTests {
    let table = DispatchTable.shared

    func resolve(_ map: OpcodeMapID, _ opcode: UInt8, prefix: UInt8 = 0, modrm: UInt8? = nil,
                 mode: CPUModes = .long64, lock: Bool = false) -> DispatchTable.Resolution {
        table.resolve(map, opcode, prefix: prefix, modrm: table.needsModRM(map, opcode) ? modrm ?? 0 : nil,
                      mode: mode, lock: lock)
    }

    @Test func everyAdvertisedEntryHasAHandlerAndNoOtherInstructionRuns() throws {
        let model = CPUModel.default
        var unbound: [String] = []
        for entry in OpcodeMap.entries where entry.isInstruction && model.advertises(entry.feature) {
            if OpcodeHandler.bound(to: entry) == nil { unbound.append("\(entry.opcodeText) \(entry.mnemonic)") }
        }
        #expect(unbound.isEmpty, "advertised without a handler: \(unbound.joined(separator: "; "))")
        // An entry without a handler is #UD on the core in every mode the map lists it, as the coverage probes it.
        let probe = try OpcodeProbe()
        var running: [String] = []
        for entry in OpcodeMap.entries where entry.isInstruction && OpcodeHandler.bound(to: entry) == nil {
            for column in OpcodeCoverage.columns where entry.modes.contains(column.mode) {
                let outcome = try probe.run(entry.encoding, in: column.mode, sixteenBitCode: column.sixteenBitCode)
                if !outcome.isInvalidOpcode { running.append("\(entry.opcodeText) \(entry.mnemonic) in \(column.name)") }
            }
        }
        #expect(running.isEmpty, "no handler, yet not #UD: \(running.joined(separator: "; "))")
    }

    /// The precomputed tables the decoder reads answer exactly where the full resolve gives a handler, with that
    /// handler, for every map, opcode, mode, mandatory prefix, ModRM byte and LOCK (the rows are scanned only for #UD
    /// and not-implemented encodings).
    @Test func quickResolutionAgreesWithTheFullResolve() {
        let quick = DispatchTable.quick
        var checked = 0
        var mismatches: [String] = []
        for map in OpcodeMapID.allCases {
            for opcode in UInt8.min...UInt8.max {
                let needsModRM = table.needsModRM(map, opcode)
                for (index, mode) in [CPUModes.real, .protected, .long64].enumerated() {
                    for prefix in QuickResolution.prefixes {
                        for modrm in needsModRM ? Array(UInt8.min...UInt8.max) : [0] {
                            for lock in [false, true] {
                                let full = table.resolve(map, opcode, prefix: prefix,
                                                         modrm: needsModRM ? modrm : nil, mode: mode, lock: lock)
                                let fast = quick.handler(map, opcode, prefix: prefix, modrm: modrm, modeIndex: index,
                                                         lock: lock)
                                let expected: OpcodeHandler? = if case .handler(let handler) = full { handler } else { nil }
                                checked += 1
                                if fast != expected && mismatches.count < 20 {
                                    mismatches.append("\(map) \(hexByte(opcode)) \(mode) prefix \(hexByte(prefix)) "
                                                      + "modrm \(hexByte(modrm)) lock \(lock): \(String(describing: fast)) "
                                                      + "vs \(full)")
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "; "))")
        #expect(checked > 1_000_000)
        #expect(quick.pageBytes < 32 * 1024, "pages are shared between opcodes and modes")
    }

    @Test func validModesComeFromTheMaps() {
        #expect(resolve(.oneByte, 0x06, mode: .long64) == .undefined)                 // PUSH ES
        #expect(resolve(.oneByte, 0x06, mode: .protected) == .handler(.legacyOneByte))
        #expect(resolve(.oneByte, 0x63, mode: .long64) == .handler(.moveSignExtendDoubleword))
        #expect(resolve(.oneByte, 0x63, mode: .protected) == .handler(.legacyOneByte))   // ARPL
        #expect(resolve(.oneByte, 0x63, mode: .real) == .undefined)
        #expect(resolve(.oneByte, 0xEA, mode: .long64) == .undefined)
        #expect(resolve(.oneByte, 0xEA, mode: .real) == .handler(.farJumpDirect))
        #expect(resolve(.oneByte, 0x40, mode: .protected) == .handler(.incrementDecrementRegister))
    }

    @Test func lockIsAcceptedOnlyOnTheMemoryFormsTheMapsAllow() {
        #expect(resolve(.oneByte, 0x01, modrm: 0x00, lock: true) == .handler(.arithmeticWithRegister))
        #expect(resolve(.oneByte, 0x01, modrm: 0xC0, lock: true) == .undefined)     // register destination
        #expect(resolve(.oneByte, 0x03, modrm: 0x00, lock: true) == .undefined)     // ADD Gv,Ev
        #expect(resolve(.oneByte, 0x39, modrm: 0x00, lock: true) == .undefined)     // CMP
        #expect(resolve(.oneByte, 0xF7, modrm: 0x18, lock: true) == .handler(.unaryGroup))   // NEG
        #expect(resolve(.oneByte, 0xF7, modrm: 0x20, lock: true) == .undefined)     // MUL
        #expect(resolve(.oneByte, 0x90, lock: true) == .undefined)
        #expect(resolve(.twoByte, 0xC7, modrm: 0x08, lock: true) == .handler(.groupNine))   // CMPXCHG8B
        #expect(resolve(.twoByte, 0xBA, modrm: 0x20, lock: true) == .undefined)     // BT
        #expect(resolve(.twoByte, 0xBA, modrm: 0x28, lock: true) == .handler(.bitTest))   // BTS
    }

    @Test func groupsAndModRMFormsComeFromTheMaps() {
        #expect(resolve(.oneByte, 0x8D, modrm: 0xC0) == .undefined)                 // LEA with a register
        #expect(resolve(.oneByte, 0xFF, modrm: 0x38) == .undefined)                 // FF /7
        #expect(resolve(.oneByte, 0xFF, modrm: 0x10) == .handler(.callIndirect))
        #expect(resolve(.oneByte, 0xFF, modrm: 0xD8) == .undefined)                 // far CALL needs memory
        #expect(resolve(.oneByte, 0x8F, modrm: 0x08) == .undefined)                 // 8F /1 (XOP on AMD)
        #expect(resolve(.twoByte, 0xC7, modrm: 0xC8) == .undefined)                 // CMPXCHG8B with a register
        #expect(resolve(.twoByte, 0xAE, modrm: 0xC0) == .undefined)                 // 0F AE /0 register form
        #expect(resolve(.twoByte, 0xAE, modrm: 0xF0) == .handler(.fenceOrState))    // MFENCE
        #expect(resolve(.twoByte, 0x20, modrm: 0x00) == .handler(.moveControlRegister))   // mod is ignored
        #expect(resolve(.twoByte, 0x0B) == .undefined)                              // UD2
        #expect(resolve(.oneByte, 0xD8, modrm: 0xC7) == .handler(.x87))             // FADD ST(0), ST(7)
        #expect(resolve(.oneByte, 0xD9, modrm: 0xE0) == .handler(.x87))             // FCHS
        #expect(resolve(.oneByte, 0xD9, modrm: 0xE2) == .undefined)                 // reserved single
        #expect(resolve(.twoByte, 0xAE, modrm: 0xEA) == .handler(.fenceOrState))    // LFENCE ignores rm
        #expect(resolve(.twoByte, 0x1F, modrm: 0xD1) == .handler(.hintNop))         // 0F 1F /2: hint NOP
        #expect(resolve(.twoByte, 0x0D, modrm: 0xE4) == .handler(.hintNop))         // prefetch hint, register
    }

    @Test func mandatoryPrefixesSelectTheVariant() {
        #expect(resolve(.twoByte, 0xB8, prefix: 0xF3, modrm: 0xC0) == .handler(.legacyTwoByte))   // POPCNT
        #expect(resolve(.twoByte, 0xB8, modrm: 0xC0) == .undefined)                 // JMPE slot
        #expect(resolve(.twoByte, 0xB8, prefix: 0x66, modrm: 0xC0) == .undefined)
        // TZCNT/LZCNT have their own handler (which runs BSF/BSR on a model without BMI1/LZCNT).
        #expect(resolve(.twoByte, 0xBC, prefix: 0xF3, modrm: 0xC0) == .handler(.countZeros))
        #expect(resolve(.twoByte, 0xBD, prefix: 0xF3, modrm: 0xC0) == .handler(.countZeros))
        #expect(resolve(.twoByte, 0xBD, modrm: 0xC0) == .handler(.bitScan))
        #expect(resolve(.oneByte, 0x90, prefix: 0xF3) == .handler(.exchangeAccumulator))   // PAUSE
        #expect(resolve(.threeByte38, 0x00, modrm: 0xC0) == .handler(.threeByte))   // PSHUFB mm
        #expect(resolve(.threeByte38, 0x10, prefix: 0x66, modrm: 0xC0) == .handler(.threeByte))   // PBLENDVB (SSE4.1)
        #expect(resolve(.threeByte38, 0x10, modrm: 0xC0) == .undefined)             // SSE4.1 needs its 66
        #expect(resolve(.threeByte38, 0xF0, prefix: 0xF2, modrm: 0xC0) == .handler(.threeByte))   // CRC32
        #expect(resolve(.threeByte38, 0xF0, modrm: 0x00) == .notImplemented)       // MOVBE
        #expect(resolve(.twoByte, 0x34) == .notImplemented)                         // SYSENTER
    }

    /// C4/C5 are VEX in 64-bit mode and, outside it, only where LES/LDS would take a register operand.
    @Test func vexPrefixesComeFromTheMaps() {
        #expect(resolve(.oneByte, 0xC4, mode: .long64) == .handler(.vex))
        #expect(resolve(.oneByte, 0xC5, modrm: 0xC0, mode: .protected) == .handler(.vex))
        #expect(resolve(.oneByte, 0xC5, modrm: 0x00, mode: .protected) == .handler(.legacyOneByte))   // LDS
        #expect(resolve(.oneByte, 0xC4, modrm: 0xC0, mode: .real) == .undefined)   // LES with a register
        #expect(resolve(.oneByte, 0xC4, modrm: 0x00, mode: .real) == .handler(.legacyOneByte))
        #expect(resolve(.oneByte, 0xC4, mode: .long64, lock: true) == .undefined)
    }

    /// MOV to and from CR0 ignore ModRM.mod (SDM Vol. 2): 0F 20 00 is MOV EAX, CR0, three bytes long.
    @Test func controlRegisterMovesIgnoreTheModField() throws {
        // mov eax, cr0 (mod 00); mov ecx, dr7 (mod 01, no displacement follows); hlt
        let machine = try SoftCPUTestMachine(code: [0x0F, 0x20, 0x00, 0x0F, 0x21, 0x79, 0xF4])
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        let cr0 = try machine.vcpu.specialRegisters().cr0
        #expect(registers.rax == cr0)
        #expect(registers.rcx == 0x400, "DR7's reset value")
        #expect(registers.rip == 0x100007)
    }
}
