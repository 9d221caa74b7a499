/// A 64-bit-mode guest instruction the translation tier can run as host code, as `GuestBlockDecoder` reads it.
///
/// Guest and host are both x86-64, so most of these run as the same host instruction with the guest's registers
/// swapped for host ones (`BlockTranslator`); the form says which bytes to keep and which registers to map.
struct GuestInstruction: Equatable {
    enum Form: Equatable {
        /// An instruction with a register-form ModRM: `opcode` as the guest wrote it, the ModRM reg field (a guest
        /// register, or an opcode extension when `regIsRegister` is false) and r/m register, which of the two are
        /// byte registers, and the registers it uses without naming them (CL for shifts, RAX/RDX for MUL).
        case modRM(opcode: [UInt8], reg: UInt8, regIsRegister: Bool, regIsByte: Bool, rm: UInt8, rmIsByte: Bool,
                   implicit: [UInt8])
        /// An instruction with its register in the opcode's low three bits (MOV r, imm; XCHG rAX, r; BSWAP): the
        /// opcode with those bits clear. `implicit`: registers it also uses (RAX for XCHG).
        case registerInOpcode(opcode: [UInt8], register: UInt8, isByte: Bool, implicit: [UInt8])
        /// Only implicit registers (CBW, CDQ, ALU on the accumulator with an immediate, CLC): runs as written.
        case implicitOnly(opcode: [UInt8], registers: [UInt8])
        /// LEA with a base register: `[base + index * scale + displacement]` in guest registers.
        case lea(destination: UInt8, base: UInt8, index: UInt8?, scale: UInt8, displacement: Int32,
                 addressSize32: Bool)
        /// LEA relative to RIP: the address is known when translating.
        case constantAddress(destination: UInt8, address: UInt64)
        /// Does nothing (NOP, the multi-byte NOP).
        case nothing
        /// Ends the block: JMP (condition nil) or Jcc to `target`, falling through to the next instruction.
        case branch(condition: UInt8?, target: UInt64)
    }

    var length: Int
    var operandSizePrefix = false
    /// The REX byte, 0 without one.
    var rex: UInt8 = 0
    var form: Form
    /// Immediate bytes, copied unchanged into the host instruction.
    var immediate: [UInt8] = []

    var rexW: Bool { rex & 8 != 0 }
    var hasREX: Bool { rex != 0 }
    /// The operand width in bytes for the instruction's full-size operands.
    var width: Int { rexW ? 8 : (operandSizePrefix ? 2 : 4) }
    var endsBlock: Bool { if case .branch = form { return true }; return false }
}
