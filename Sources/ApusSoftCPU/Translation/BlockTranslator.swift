/// Turns a straight-line run of guest instructions (`GuestBlockDecoder`'s subset) into one host function.
///
/// The host function is `(gpr: UnsafeMutablePointer<UInt64>, flags: UnsafeMutablePointer<UInt64>) -> next RIP`
/// (System V: RDI, RSI, result in RAX). Guest registers stay in the core's register file: each guest instruction
/// loads the registers it names into host registers, runs as the same host instruction on them, and stores them
/// back. Guest arithmetic flags live in the host's RFLAGS for the whole block (loads and stores do not touch them),
/// so ADC, SETcc, CMOVcc and Jcc read what the previous guest instruction left, exactly as on the guest; the block
/// loads the six arithmetic flags at entry and writes them back into `flags` at exit. DF and AC are never loaded,
/// so the host ABI's DF = 0 holds.
enum BlockTranslator {
    /// Host register holding the guest register file's address for the whole block.
    static let context = HostRegister.r15
    /// Guest instructions per block at most: interrupts and kicks are looked at between blocks.
    static let maximumInstructions = 32
    /// CF, PF, AF, ZF, SF, OF.
    static let arithmeticFlags: Int32 = 0x8D5
    static let calleeSaved: [HostRegister] = [.rbx, .rbp, .r12, .r13, .r14, .r15]

    struct Translation {
        let code: [UInt8]
        /// Guest instructions the block runs (all of them, every time: it has no early exit).
        let instructions: Int
        /// Guest bytes it covers from its first instruction.
        let length: Int
    }

    /// Translates the instructions from `offset` (guest RIP `rip`), or nil when the first is outside the subset.
    static func translate(_ decoder: GuestBlockDecoder, offset: Int, rip: UInt64) -> Translation? {
        var emitter = X86Emitter()
        for register in calleeSaved { emitter.push(register) }
        emitter.mov(.qword, .register(context), .rdi)
        emitter.push(.rsi)
        emitter.mov(.qword, .rax, HostMemory(base: .rsi))
        emitter.arithmetic(.and, .dword, .register(.rax), immediate: arithmeticFlags)
        emitter.push(.rax)
        emitter.popfq()

        var cursor = offset
        var count = 0
        var ending: GuestInstruction.Form?
        while count < maximumInstructions,
              let instruction = decoder.decode(at: cursor, rip: rip &+ UInt64(cursor - offset)) {
            if instruction.endsBlock {
                count += 1
                cursor += instruction.length
                ending = instruction.form
                break
            }
            guard emit(instruction, &emitter) else { break }
            count += 1
            cursor += instruction.length
        }
        guard count > 0 else { return nil }
        let next = rip &+ UInt64(cursor - offset)
        if case .branch(let condition, let target) = ending {
            emitter.mov(.qword, .rax, immediate: Int64(bitPattern: condition == nil ? target : next))
            if let condition {
                emitter.mov(.qword, .rcx, immediate: Int64(bitPattern: target))
                emitter.cmov(HostCondition(rawValue: condition)!, .qword, .rax, .register(.rcx))
            }
        } else {
            emitter.mov(.qword, .rax, immediate: Int64(bitPattern: next))
        }
        // The flags go back before anything changes them: PUSHFQ and POP do not, AND does (after the copy).
        emitter.pushfq()
        emitter.pop(.rcx)
        emitter.pop(.rsi)
        emitter.arithmetic(.and, .dword, .register(.rcx), immediate: arithmeticFlags)
        emitter.mov(.qword, .rdx, HostMemory(base: .rsi))
        emitter.arithmetic(.and, .qword, .register(.rdx), immediate: ~arithmeticFlags)
        emitter.arithmetic(.or, .qword, .register(.rdx), .rcx)
        emitter.mov(.qword, .memory(HostMemory(base: .rsi)), .rdx)
        for register in calleeSaved.reversed() { emitter.pop(register) }
        emitter.ret()
        return Translation(code: emitter.finish(), instructions: count, length: cursor - offset)
    }

    // MARK: One instruction

    /// A guest register operand: the full register it lives in, and whether it is AH/CH/DH/BH.
    private struct Operand { let register: UInt8; let highByte: Bool }

    private static func operand(_ encoding: UInt8, isByte: Bool, _ instruction: GuestInstruction) -> Operand {
        if isByte && !instruction.hasREX && (4...7).contains(encoding) { return Operand(register: encoding - 4, highByte: true) }
        return Operand(register: encoding, highByte: false)
    }

    /// Host registers for the guest registers one instruction uses. Implicit registers (RAX, RCX, RDX) and most
    /// others keep their own number; guest RSP and R15 (the context register) get a free one. `withoutREX`: the
    /// instruction names AH-BH, so every register must be encodable without REX.
    private static func assign(_ registers: [UInt8], withoutREX: Bool) -> [UInt8: HostRegister]? {
        var map: [UInt8: HostRegister] = [:]
        var taken = Set<UInt8>()
        for register in registers where map[register] == nil {
            if register != 4 && register != context.rawValue && (!withoutREX || register < 8) {
                map[register] = HostRegister(rawValue: register)
                taken.insert(register)
            }
        }
        let candidates: [UInt8] = withoutREX ? [0, 1, 2, 3, 5, 6, 7] : [8, 9, 10, 11, 12, 13, 14, 0, 1, 2, 3, 5, 6, 7]
        for register in registers where map[register] == nil {
            guard let free = candidates.first(where: { !taken.contains($0) && !registers.contains($0) }) else {
                return nil
            }
            map[register] = HostRegister(rawValue: free)
            taken.insert(free)
        }
        return map
    }

    private static func slot(_ register: UInt8) -> HostMemory {
        HostMemory(base: context, displacement: Int32(register) * 8)
    }

    private static func load(_ map: [UInt8: HostRegister], _ emitter: inout X86Emitter) {
        for (guest, host) in map.sorted(by: { $0.key < $1.key }) { emitter.mov(.qword, host, slot(guest)) }
    }

    private static func store(_ map: [UInt8: HostRegister], _ emitter: inout X86Emitter) {
        for (guest, host) in map.sorted(by: { $0.key < $1.key }) { emitter.mov(.qword, .memory(slot(guest)), host) }
    }

    /// The host encoding (0-7 without REX for AH-BH, else the register number) of an operand.
    private static func encoding(_ operand: Operand, _ map: [UInt8: HostRegister]) -> UInt8 {
        let host = map[operand.register]!.rawValue
        return operand.highByte ? host + 4 : host
    }

    /// Emits the host code of one non-branch instruction; false if it cannot (its registers do not fit).
    private static func emit(_ instruction: GuestInstruction, _ emitter: inout X86Emitter) -> Bool {
        switch instruction.form {
        case .nothing:
            return true
        case .modRM(let opcode, let reg, let regIsRegister, let regIsByte, let rm, let rmIsByte, let implicit):
            let rmOperand = operand(rm, isByte: rmIsByte, instruction)
            let regOperand = regIsRegister ? operand(reg, isByte: regIsByte, instruction) : nil
            let high = rmOperand.highByte || (regOperand?.highByte ?? false)
            let registers = implicit + [rmOperand.register] + (regOperand.map { [$0.register] } ?? [])
            guard let map = assign(registers, withoutREX: high) else { return false }
            let rmEncoding = encoding(rmOperand, map)
            let regEncoding = regOperand.map { encoding($0, map) } ?? reg
            var rex: UInt8 = instruction.rexW ? 0x48 : 0
            if regIsRegister && regEncoding >= 8 { rex |= 0x44 }
            if rmEncoding >= 8 { rex |= 0x41 }
            // SPL-DIL exist only with a REX prefix.
            if rmIsByte && !rmOperand.highByte && (4...7).contains(rmEncoding) { rex |= 0x40 }
            if regIsByte, let regOperand, !regOperand.highByte, (4...7).contains(regEncoding) { rex |= 0x40 }
            if high && rex != 0 { return false }
            load(map, &emitter)
            if instruction.operandSizePrefix { emitter.byte(0x66) }
            if rex != 0 { emitter.byte(rex) }
            for byte in opcode { emitter.byte(byte) }
            emitter.byte(0xC0 | (regEncoding & 7) << 3 | rmEncoding & 7)
            for byte in instruction.immediate { emitter.byte(byte) }
            store(map, &emitter)
        case .registerInOpcode(let opcode, let register, let isByte, let implicit):
            let target = operand(register, isByte: isByte, instruction)
            guard let map = assign(implicit + [target.register], withoutREX: target.highByte) else { return false }
            let hostEncoding = encoding(target, map)
            var rex: UInt8 = instruction.rexW ? 0x48 : 0
            if hostEncoding >= 8 { rex |= 0x41 }
            if isByte && !target.highByte && (4...7).contains(hostEncoding) { rex |= 0x40 }
            load(map, &emitter)
            if instruction.operandSizePrefix { emitter.byte(0x66) }
            if rex != 0 { emitter.byte(rex) }
            for byte in opcode.dropLast() { emitter.byte(byte) }
            emitter.byte(opcode.last! | hostEncoding & 7)
            for byte in instruction.immediate { emitter.byte(byte) }
            store(map, &emitter)
        case .implicitOnly(let opcode, let registers):
            let map = Dictionary(uniqueKeysWithValues: registers.map { ($0, HostRegister(rawValue: $0)!) })
            load(map, &emitter)
            if instruction.operandSizePrefix { emitter.byte(0x66) }
            if instruction.hasREX { emitter.byte(instruction.rex) }
            for byte in opcode { emitter.byte(byte) }
            for byte in instruction.immediate { emitter.byte(byte) }
            store(map, &emitter)
        case .lea(let destination, let base, let index, let scale, let displacement, let addressSize32):
            guard let map = assign([destination, base] + (index.map { [$0] } ?? []), withoutREX: false) else {
                return false
            }
            load(map, &emitter)
            if addressSize32 { emitter.byte(0x67) }
            emitter.lea(width(instruction), map[destination]!,
                        HostMemory(base: map[base]!, index: index.map { map[$0]! }, scale: scale,
                                   displacement: displacement))
            store(map, &emitter)
        case .constantAddress(let destination, let address):
            guard let map = assign([destination], withoutREX: false) else { return false }
            let operandWidth = width(instruction)
            load(map, &emitter)
            let value = operandWidth == .qword ? address : address & (operandWidth == .word ? 0xFFFF : 0xFFFF_FFFF)
            emitter.mov(operandWidth, map[destination]!, immediate: Int64(bitPattern: value))
            store(map, &emitter)
        case .branch:
            return false
        }
        return true
    }

    private static func width(_ instruction: GuestInstruction) -> OperandWidth {
        OperandWidth(rawValue: instruction.width)!
    }
}
