/// The x87 escapes D8-DF (SDM Vol. 2 Tables ): memory forms by ModRM.reg, register forms by ModRM.reg
/// with ST(1) as the operand, or by the whole ModRM byte where one byte names one instruction. Register forms that
/// the SDM leaves blank but every Intel x87 since the 387 executes (FSTP1, FCOM2, FXCH4, FFREEP...) are listed as
/// the undocumented aliases they are.
extension OpcodeMap {
    static func addX87(_ t: inout OpcodeRows) {
        let arithmetic = ["FADD", "FMUL", "FCOM", "FCOMP", "FSUB", "FSUBR", "FDIV", "FDIVR"]
        let integer = ["FIADD", "FIMUL", "FICOM", "FICOMP", "FISUB", "FISUBR", "FIDIV", "FIDIVR"]
        let memory: [UInt8: [String?]] = [
            0xD8: arithmetic.map { $0 + " m32fp" },
            0xD9: ["FLD m32fp", nil, "FST m32fp", "FSTP m32fp", "FLDENV", "FLDCW", "FNSTENV", "FNSTCW"],
            0xDA: integer.map { $0 + " m32int" },
            0xDB: ["FILD m32int", "FISTTP m32int", "FIST m32int", "FISTP m32int", nil, "FLD m80fp", nil, "FSTP m80fp"],
            0xDC: arithmetic.map { $0 + " m64fp" },
            0xDD: ["FLD m64fp", "FISTTP m64int", "FST m64fp", "FSTP m64fp", "FRSTOR", nil, "FNSAVE", "FNSTSW m16"],
            0xDE: integer.map { $0 + " m16int" },
            0xDF: ["FILD m16int", "FISTTP m16int", "FIST m16int", "FISTP m16int", "FBLD m80bcd", "FILD m64int",
                   "FBSTP m80bcd", "FISTP m64int"],
        ]
        // Register forms by ModRM.reg; nil rows are spelled out byte by byte below.
        let registers: [UInt8: [String?]] = [
            0xD8: arithmetic.map { $0 + " ST(0),ST(i)" },
            0xD9: ["FLD ST(i)", "FXCH ST(i)", nil, "FSTP1 ST(i) (undocumented alias)", nil, nil, nil, nil],
            0xDA: ["FCMOVB", "FCMOVE", "FCMOVBE", "FCMOVU", "", nil, "", ""],
            0xDB: ["FCMOVNB", "FCMOVNE", "FCMOVNBE", "FCMOVNU", nil, "FUCOMI", "FCOMI", ""],
            0xDC: ["FADD ST(i),ST(0)", "FMUL ST(i),ST(0)", "FCOM2 (undocumented alias)",
                   "FCOMP3 (undocumented alias)", "FSUBR ST(i),ST(0)", "FSUB ST(i),ST(0)", "FDIVR ST(i),ST(0)",
                   "FDIV ST(i),ST(0)"],
            0xDD: ["FFREE ST(i)", "FXCH4 (undocumented alias)", "FST ST(i)", "FSTP ST(i)", "FUCOM ST(i)",
                   "FUCOMP ST(i)", "", ""],
            0xDE: ["FADDP", "FMULP", "FCOMP5 (undocumented alias)", nil, "FSUBRP", "FSUBP", "FDIVRP", "FDIVP"],
            0xDF: ["FFREEP (undocumented)", "FXCH7 (undocumented alias)", "FSTP8 (undocumented alias)",
                   "FSTP9 (undocumented alias)", nil, "FUCOMIP", "FCOMIP", ""],
        ]
        let singles: [UInt8: [UInt8: String]] = [
            0xD9: [0xD0: "FNOP", 0xE0: "FCHS", 0xE1: "FABS", 0xE4: "FTST", 0xE5: "FXAM", 0xE8: "FLD1",
                   0xE9: "FLDL2T", 0xEA: "FLDL2E", 0xEB: "FLDPI", 0xEC: "FLDLG2", 0xED: "FLDLN2", 0xEE: "FLDZ",
                   0xF0: "F2XM1", 0xF1: "FYL2X", 0xF2: "FPTAN", 0xF3: "FPATAN", 0xF4: "FXTRACT", 0xF5: "FPREM1",
                   0xF6: "FDECSTP", 0xF7: "FINCSTP", 0xF8: "FPREM", 0xF9: "FYL2XP1", 0xFA: "FSQRT",
                   0xFB: "FSINCOS", 0xFC: "FRNDINT", 0xFD: "FSCALE", 0xFE: "FSIN", 0xFF: "FCOS"],
            0xDA: [0xE9: "FUCOMPP"],
            0xDB: [0xE0: "FENI (no-op since the 387)", 0xE1: "FDISI (no-op since the 387)", 0xE2: "FNCLEX",
                   0xE3: "FNINIT", 0xE4: "FSETPM (no-op since the 387)"],
            0xDE: [0xD9: "FCOMPP"],
            0xDF: [0xE0: "FNSTSW AX"],
        ]
        for opcode in UInt8(0xD8)...0xDF {
            for reg in UInt8(0)..<8 {
                if let name = memory[opcode]![Int(reg)] {
                    let feature: InstructionFeature = name.hasPrefix("FISTTP") ? .sse3 : .x87
                    t.add(opcode, name, feature, form: .memoryOnly, group: reg)
                } else {
                    t.reserved(opcode, form: .memoryOnly, group: reg)
                }
                let modrmBase = 0xC0 | reg << 3
                switch registers[opcode]![Int(reg)] {
                case .some(""):
                    t.reserved(opcode, form: .registerGroup(modrmBase | 1), group: reg)
                case .some(let name):
                    let feature: InstructionFeature = name.hasPrefix("FCMOV") || name.contains("COMI") ? .cmov : .x87
                    t.add(opcode, name, feature, form: .registerGroup(modrmBase | 1), group: reg)
                case .none:
                    for rm in UInt8(0)..<8 {
                        if let name = singles[opcode]?[modrmBase | rm] {
                            t.add(opcode, name, .x87, form: .fixed(modrmBase | rm), group: reg)
                        } else {
                            t.reserved(opcode, form: .fixed(modrmBase | rm), group: reg)
                        }
                    }
                }
            }
        }
    }
}
