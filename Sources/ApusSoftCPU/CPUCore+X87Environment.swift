import ApusCore
import CHostFPU

/// FNSTENV/FLDENV (the environment: 28 bytes with a 32- or 64-bit operand size, 14 with a 16-bit one, as in
/// real-address mode) and FNSAVE/FRSTOR (the environment plus the eight registers in stack order, 108 or 94 bytes).
/// Control, status and tag words, then the instruction and operand pointers in the layout of the current mode
/// (CPUCore+X87Pointers).
extension CPUCore {
    func x87Environment(_ opcode: Int, kind: Int, _ operand: Operand, _ i: Instruction) throws {
        let (segment, offset) = try effectiveOffset(operand, i)
        let wordSize = i.operandSize == 2 ? 2 : 4
        let header = 7 * wordSize
        let size = opcode == 0xDD ? header + 80 : header
        if kind == 6 {
            // Check the whole area first, so a fault leaves memory (and the state) untouched.
            try probeWritable(segment, offset, size: size)
            let padding: UInt64 = wordSize == 4 ? 0xFFFF_0000 : 0   // the 32-bit layout's reserved upper halves
            let words: [UInt64] = [padding | UInt64(x87Control), padding | UInt64(x87Status),
                                   padding | UInt64(x87FullTagWord())] + x87EnvironmentPointerWords(wordSize: wordSize)
            for (index, word) in words.enumerated() {
                try write(segment, offset &+ UInt64(wordSize * index), size: wordSize, word)
            }
            if opcode == 0xDD {
                for register in 0..<8 {
                    let bytes = withUnsafeBytes(of: st(register).bytes) { Array($0) }
                    for (index, byte) in bytes.enumerated() {
                        try write(segment, offset &+ UInt64(header + 10 * register + index), size: 1, UInt64(byte))
                    }
                }
                var state = fpu                                      // FNSAVE ends with FNINIT
                state.controlWord = 0x037F
                for index in 2..<24 { state.fxsave[index] = 0 }
                fpu = state
            } else {
                fpu.controlWord = x87Control | 0x3F                  // FNSTENV masks every exception afterwards
            }
        } else {
            let control = UInt16(try read(segment, offset, size: 2))
            let status = UInt16(try read(segment, offset &+ UInt64(wordSize), size: 2))
            let tags = UInt16(try read(segment, offset &+ UInt64(2 * wordSize), size: 2))
            var pointerWords: [UInt64] = []
            for index in 3..<7 { pointerWords.append(try read(segment, offset &+ UInt64(index * wordSize), size: wordSize)) }
            var registers: [[UInt8]] = []
            if opcode == 0xDD {
                for register in 0..<8 {
                    var bytes: [UInt8] = []
                    for index in 0..<10 { bytes.append(UInt8(try read(segment, offset &+ UInt64(header + 10 * register + index), size: 1))) }
                    registers.append(bytes)
                }
            }
            fpu.controlWord = control
            x87Status = status
            loadX87EnvironmentPointers(pointerWords, wordSize: wordSize)
            var abridged: UInt8 = 0
            for physical in 0..<8 where (tags >> UInt16(2 * physical)) & 3 != 3 { abridged |= UInt8(1 << physical) }
            fpu.fxsave[4] = abridged
            for (register, bytes) in registers.enumerated() {
                for (index, byte) in bytes.enumerated() { fpu.fxsave[32 + 16 * register + index] = byte }
            }
        }
    }

    /// The full tag word: two bits per physical register (valid, zero, special, empty), from the contents.
    func x87FullTagWord() -> UInt16 {
        var word: UInt16 = 0
        for physical in 0..<8 {
            let i = (physical - x87Top) & 7
            let tag: UInt16
            if x87Empty(i) {
                tag = 3
            } else {
                let bytes = withUnsafeBytes(of: st(i).bytes) { Array($0) }
                let exponent = (UInt16(bytes[9]) << 8 | UInt16(bytes[8])) & 0x7FFF
                let significand = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
                if exponent == 0x7FFF { tag = 2 }
                else if exponent == 0 { tag = significand == 0 ? 1 : 2 }
                else { tag = significand >> 63 == 1 ? 0 : 2 }
            }
            word |= tag << UInt16(2 * physical)
        }
        return word
    }

    private func probeWritable(_ segment: SegmentRegister, _ offset: UInt64, size: Int) throws {
        var address = offset
        let end = offset &+ UInt64(size - 1)
        while true {
            let linearAddress = linear(segment, address)
            try checkCanonical(linearAddress, segment)
            _ = try translate(linearAddress, access: .write)
            let nextPage = (address | 0xFFF) &+ 1
            if nextPage > end || nextPage == 0 { break }
            address = nextPage
        }
        let last = linear(segment, end)
        try checkCanonical(last, segment)
        _ = try translate(last, access: .write)
    }
}
