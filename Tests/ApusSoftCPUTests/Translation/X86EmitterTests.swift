import ApusTesting
import Foundation
import Testing
@testable import ApusSoftCPU

/// The emitter's bytes for each instruction form equal what the LLVM assembler (llvm-mc) produces for the same
/// instruction text, over many random operands per form.
@Suite struct X86EmitterTests {
    static let assembler = "/usr/bin/llvm-mc"
    static let objcopy = "/usr/bin/llvm-objcopy"

    /// One instruction: its Intel-syntax text and what the emitter wrote for it.
    struct Case { let text: String; let bytes: [UInt8] }

    @Test func everyFormMatchesTheAssembler() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.assembler),
              FileManager.default.isExecutableFile(atPath: Self.objcopy) else {
            print("X86EmitterTests: skipping: \(Self.assembler) or \(Self.objcopy) is missing on this host")
            return
        }
        var random = SplitMix64(seed: 0x15)
        var cases: [Case] = []
        for _ in 0..<150 { cases += Self.randomCases(&random) }
        cases += Self.jumpCases(&random)
        let expected = try Self.assemble(cases.map(\.text))
        var offset = 0
        for item in cases {
            let slice = Array(expected[min(offset, expected.count)..<min(offset + item.bytes.count, expected.count)])
            #expect(slice == item.bytes, "\(item.text): emitter \(Self.hex(item.bytes)), assembler \(Self.hex(slice))")
            guard slice == item.bytes else { return }   // everything after would be shifted
            offset += item.bytes.count
        }
        #expect(offset == expected.count)
        #expect(cases.count > 3000)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined(separator: " ") }

    static func assemble(_ lines: [String]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-emitter-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("forms.s")
        let object = directory.appendingPathComponent("forms.o")
        let binary = directory.appendingPathComponent("forms.bin")
        try ([".intel_syntax noprefix"] + lines).joined(separator: "\n").appending("\n")
            .write(to: source, atomically: true, encoding: .utf8)
        let assembled = try CommandRunner.runTool(assembler, ["-triple=x86_64", "-filetype=obj", "-o", object.path, source.path])
        #expect(assembled.status == 0, "llvm-mc: \(assembled.output)")
        let copied = try CommandRunner.runTool(objcopy, ["-O", "binary", "--only-section=.text", object.path, binary.path])
        #expect(copied.status == 0, "llvm-objcopy: \(copied.output)")
        return [UInt8](try Data(contentsOf: binary))
    }

    // MARK: Operand text

    static let names: [OperandWidth: [String]] = [
        .qword: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + (8...15).map { "r\($0)" },
        .dword: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + (8...15).map { "r\($0)d" },
        .word: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + (8...15).map { "r\($0)w" },
        .byte: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + (8...15).map { "r\($0)b" },
    ]
    static let pointer: [OperandWidth: String] = [.byte: "byte ptr", .word: "word ptr", .dword: "dword ptr", .qword: "qword ptr"]
    static let conditions = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]

    static func name(_ register: HostRegister, _ width: OperandWidth) -> String { names[width]![Int(register.rawValue)] }

    static func text(_ memory: HostMemory) -> String {
        var text = "[" + name(memory.base, .qword)
        if let index = memory.index { text += " + \(name(index, .qword))*\(memory.scale)" }
        if memory.displacement != 0 { text += memory.displacement < 0 ? " - \(-Int64(memory.displacement))" : " + \(memory.displacement)" }
        return text + "]"
    }

    static func text(_ operand: HostOperand, _ width: OperandWidth) -> String {
        switch operand {
        case .register(let register): return name(register, width)
        case .memory(let memory): return pointer[width]! + " " + text(memory)
        }
    }

    // MARK: Random operands

    static func register(_ random: inout SplitMix64) -> HostRegister { HostRegister(rawValue: UInt8.random(in: 0...15, using: &random))! }

    static func memory(_ random: inout SplitMix64) -> HostMemory {
        let displacement: Int32
        switch Int.random(in: 0..<4, using: &random) {
        case 0: displacement = 0
        case 1: displacement = Int32.random(in: -128...127, using: &random)
        default: displacement = Int32.random(in: Int32.min...Int32.max, using: &random)
        }
        var index: HostRegister? = nil
        if Bool.random(using: &random) {
            var candidate = register(&random)
            while candidate == .rsp { candidate = register(&random) }
            index = candidate
        }
        return HostMemory(base: register(&random), index: index, scale: [1, 2, 4, 8].randomElement(using: &random)!,
                          displacement: displacement)
    }

    static func operand(_ random: inout SplitMix64) -> HostOperand {
        Bool.random(using: &random) ? .register(register(&random)) : .memory(memory(&random))
    }

    static func immediate(_ width: OperandWidth, _ random: inout SplitMix64) -> Int32 {
        switch width {
        case .byte: return Int32.random(in: -128...127, using: &random)
        case .word: return Int32.random(in: -32768...32767, using: &random)
        default: return Bool.random(using: &random) ? Int32.random(in: -128...127, using: &random)
            : Int32.random(in: Int32.min...Int32.max, using: &random)
        }
    }

    static func width(_ random: inout SplitMix64, byte: Bool = true) -> OperandWidth {
        byte ? OperandWidth.allCases.randomElement(using: &random)! : [.word, .dword, .qword].randomElement(using: &random)!
    }

    static func emitted(_ body: (inout X86Emitter) -> Void) -> [UInt8] {
        var emitter = X86Emitter()
        body(&emitter)
        return emitter.finish()
    }

    /// One random instance of every form.
    static func randomCases(_ random: inout SplitMix64) -> [Case] {
        var cases: [Case] = []
        let w = width(&random), rm = operand(&random), r = register(&random), m = memory(&random)
        let imm = immediate(w, &random)
        let operation = X86Emitter.ArithmeticOperation.allCases.randomElement(using: &random)!
        let op = "\(operation)"
        cases.append(Case(text: "mov \(text(rm, w)), \(name(r, w))", bytes: emitted { $0.mov(w, rm, r) }))
        cases.append(Case(text: "mov \(name(r, w)), \(pointer[w]!) \(text(m))", bytes: emitted { $0.mov(w, r, m) }))
        let wide = Int64.random(in: Int64.min...Int64.max, using: &random)
        let fitted = w == .qword ? wide : Int64(imm)
        cases.append(Case(text: (w == .qword ? "movabs " : "mov ") + "\(name(r, w)), \(fitted)",
                          bytes: emitted { $0.mov(w, r, immediate: fitted) }))
        cases.append(Case(text: "mov \(text(rm, w)), \(imm)", bytes: emitted { $0.movSignExtended(w, rm, immediate: imm) }))
        cases.append(Case(text: "\(op) \(text(rm, w)), \(name(r, w))", bytes: emitted { $0.arithmetic(operation, w, rm, r) }))
        cases.append(Case(text: "\(op) \(name(r, w)), \(pointer[w]!) \(text(m))", bytes: emitted { $0.arithmetic(operation, w, r, m) }))
        let accumulatorOrNot: HostOperand = Bool.random(using: &random) ? .register(.rax) : rm
        cases.append(Case(text: "\(op) \(text(accumulatorOrNot, w)), \(imm)",
                          bytes: emitted { $0.arithmetic(operation, w, accumulatorOrNot, immediate: imm) }))
        cases.append(Case(text: "test \(text(rm, w)), \(name(r, w))", bytes: emitted { $0.test(w, rm, r) }))
        cases.append(Case(text: "test \(text(accumulatorOrNot, w)), \(imm)",
                          bytes: emitted { $0.test(w, accumulatorOrNot, immediate: imm) }))
        let up = Bool.random(using: &random)
        cases.append(Case(text: (up ? "inc " : "dec ") + text(rm, w), bytes: emitted { $0.increment(w, rm, by: up ? 1 : -1) }))
        let unary = X86Emitter.UnaryOperation.allCases.randomElement(using: &random)!
        cases.append(Case(text: "\(unary) \(text(rm, w))", bytes: emitted { $0.unary(unary, w, rm) }))
        let shift = X86Emitter.ShiftOperation.allCases.randomElement(using: &random)!
        let count = Bool.random(using: &random) ? 1 : UInt8.random(in: 0...63, using: &random)
        cases.append(Case(text: "\(shift) \(text(rm, w)), \(count)", bytes: emitted { $0.shift(shift, w, rm, count: count) }))
        cases.append(Case(text: "\(shift) \(text(rm, w)), cl", bytes: emitted { $0.shiftByCL(shift, w, rm) }))
        let wideWidth = width(&random, byte: false)
        let wideImmediate = immediate(wideWidth, &random)
        cases.append(Case(text: "imul \(name(r, wideWidth)), \(text(rm, wideWidth))", bytes: emitted { $0.imul(wideWidth, r, rm) }))
        cases.append(Case(text: "imul \(name(r, wideWidth)), \(text(rm, wideWidth)), \(wideImmediate)",
                          bytes: emitted { $0.imul(wideWidth, r, rm, immediate: wideImmediate) }))
        cases.append(Case(text: "lea \(name(r, wideWidth)), \(text(m))", bytes: emitted { $0.lea(wideWidth, r, m) }))
        let source: OperandWidth = wideWidth == .word ? .byte : [.byte, .word].randomElement(using: &random)!
        cases.append(Case(text: "movzx \(name(r, wideWidth)), \(text(rm, source))", bytes: emitted { $0.movzx(wideWidth, r, source, rm) }))
        cases.append(Case(text: "movsx \(name(r, wideWidth)), \(text(rm, source))", bytes: emitted { $0.movsx(wideWidth, r, source, rm) }))
        cases.append(Case(text: "movsxd \(name(r, .qword)), \(text(rm, .dword))", bytes: emitted { $0.movsx(.qword, r, .dword, rm) }))
        let condition = HostCondition.allCases.randomElement(using: &random)!
        cases.append(Case(text: "set\(conditions[Int(condition.rawValue)]) \(text(rm, .byte))", bytes: emitted { $0.setcc(condition, rm) }))
        cases.append(Case(text: "cmov\(conditions[Int(condition.rawValue)]) \(name(r, wideWidth)), \(text(rm, wideWidth))",
                          bytes: emitted { $0.cmov(condition, wideWidth, r, rm) }))
        let exchanged: HostOperand = Bool.random(using: &random) ? .register(.rax) : rm
        let partner: HostRegister = Bool.random(using: &random) ? .rax : r
        cases.append(Case(text: "xchg \(text(exchanged, w)), \(name(partner, w))", bytes: emitted { $0.xchg(w, exchanged, partner) }))
        let swapWidth: OperandWidth = Bool.random(using: &random) ? .dword : .qword
        cases.append(Case(text: "bswap \(name(r, swapWidth))", bytes: emitted { $0.bswap(swapWidth, r) }))
        cases.append(Case(text: "push \(name(r, .qword))", bytes: emitted { $0.push(r) }))
        cases.append(Case(text: "pop \(name(r, .qword))", bytes: emitted { $0.pop(r) }))
        cases.append(Case(text: "call \(text(rm, .qword))", bytes: emitted { $0.call(rm) }))
        cases.append(Case(text: "pushfq", bytes: emitted { $0.pushfq() }))
        cases.append(Case(text: "popfq", bytes: emitted { $0.popfq() }))
        cases.append(Case(text: "ret", bytes: emitted { $0.ret() }))
        return cases
    }

    /// Forward and backward JMP, Jcc and CALL to labels farther than a short jump reaches (the assembler then uses
    /// rel32 as the emitter always does).
    static func jumpCases(_ random: inout SplitMix64) -> [Case] {
        var cases: [Case] = []
        for n in 0..<60 {
            let distance = Int.random(in: 130...5000, using: &random)
            let condition = HostCondition.allCases.randomElement(using: &random)!
            let kind = n % 3
            let mnemonic = kind == 0 ? "jmp" : (kind == 1 ? "j\(conditions[Int(condition.rawValue)])" : "call")
            let forward = Bool.random(using: &random)
            var emitter = X86Emitter()
            let label = emitter.makeLabel()
            if !forward { emitter.bind(label) }
            if !forward { for _ in 0..<distance { emitter.byte(0x90) } }
            switch kind {
            case 0: emitter.jmp(label)
            case 1: emitter.jcc(condition, label)
            default: emitter.call(label)
            }
            if forward { for _ in 0..<distance { emitter.byte(0x90) } }
            if forward { emitter.bind(label) }
            let fill = ".fill \(distance), 1, 0x90"
            let text = forward ? "\(mnemonic) L\(n)\n\(fill)\nL\(n):" : "L\(n):\n\(fill)\n\(mnemonic) L\(n)"
            cases.append(Case(text: text, bytes: emitter.finish()))
        }
        return cases
    }
}
