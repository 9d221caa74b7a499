import ApusTesting

/// Jcc taken and not taken, CALL/RET (RET imm16), JMP/CALL through a register and through memory, PUSH/RET,
/// LOOPcc and JRCXZ (also with a 32-bit counter), and branches to targets that fault. (SYSCALL is left out: this
/// host's KVM does not enter the guest's LSTAR from user mode.)
struct ControlFlowCases {
    var rng: SplitMix64
    /// Code a taken branch skips: MOV R15, imm64 (10 bytes), so a wrong decision shows in R15.
    static let skipped = X86.move(15, 0x5EED_5EED_5EED_5EED)
    /// Code every branch lands on: INC RAX.
    static let landing: [UInt8] = [0x48, 0xFF, 0xC0]

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "control", code: [], description: "", registers: rng.registers())
        let code = UserModeLayout.codeBase
        switch rng.below(8) {
        case 0:
            let condition = rng.below(16)
            let a = rng.register(), b = rng.register()
            let compare = rng.chance(70) ? X86.registers([0x39], reg: b, rm: a, wide: rng.chance(50)) : []
            let near = rng.chance(40)
            let branch = near ? X86.jump(if: condition, 10) : X86.jumpShort(if: condition, 10)
            userCase.code = compare + branch + Self.skipped + Self.landing
            userCase.description = "j\(condition) \(near ? "near" : "short")\(compare.isEmpty ? "" : " after cmp")"
        case 1:
            let release: UInt16 = rng.pick([0, 0, 8, 16, 3, 0x100, 0x7F8])
            let function = Self.landing + (release == 0 ? X86.ret : X86.returnReleasing(release))
            userCase.code = X86.call(5) + [0x48, 0x01, 0xC3] + X86.jumpShort(Int8(function.count)) + function
            userCase.description = "call/ret \(release)"
        case let form where form == 2 || form == 3:
            let viaMemory = form == 3
            let register = rng.register()
            let call = rng.chance(50)
            let slot = UInt32(UserModeLayout.data) + UInt32(rng.below(0x200) * 8)
            var prefix = X86.move(register, 0)
            if viaMemory { prefix += X86.absolute([0x89], reg: register, address: slot, wide: true) }
            let branch = viaMemory ? X86.absolute([0xFF], reg: call ? 2 : 4, address: slot, wide: false)
                                   : X86.registers([0xFF], reg: call ? 2 : 4, rm: register, wide: false)
            let target = code + UInt64(prefix.count + branch.count + Self.skipped.count)
            prefix.replaceSubrange(2..<10, with: X86.bytes(target, 8))   // MOV's imm64
            userCase.code = prefix + branch + Self.skipped + Self.landing
            userCase.description = "\(call ? "call" : "jmp") \(viaMemory ? "[mem]" : "r\(register)")"
        case 4:
            let loop = 0xE0 + rng.below(3)
            let narrow = rng.chance(30)
            let count: UInt64 = (narrow ? rng.pick([0x1_0000_0000, 0xFFFF_FFFF_0000_0000, 0]) : 0) + UInt64(1 + rng.below(20))
            let body: [UInt8] = [0x48, 0xFF, 0xC0, 0x48, 0x39, 0xD8]    // inc rax; cmp rax, rbx
            let back = -(body.count + (narrow ? 3 : 2))
            userCase.registers.rbx = userCase.registers.rax &+ UInt64(rng.below(25))
            userCase.code = X86.move(1, count) + body + (narrow ? [0x67] : []) + [UInt8(loop), UInt8(bitPattern: Int8(back))]
            userCase.description = "loop \(hex(loop)) rcx \(hex(count))\(narrow ? " addr32" : "")"
        case 5:
            let narrow = rng.chance(40)
            userCase.registers.rcx = rng.pick([0, 0x1_0000_0000, 0xFFFF_FFFF_0000_0000, rng.value()])
            userCase.code = (narrow ? [0x67] : []) + [0xE3, 10] + Self.skipped + Self.landing
            userCase.description = "j\(narrow ? "e" : "r")cxz rcx \(hex(userCase.registers.rcx))"
        case 6:
            let target = UInt32(code) + 6 + UInt32(Self.skipped.count)
            userCase.code = [0x68] + X86.bytes(target, 4) + X86.ret + Self.skipped + Self.landing
            userCase.description = "push/ret"
        default:
            // Targets in the upper canonical half are left out: this host's KVM reserves that half for itself
            // (a user access there is a reserved-bit #PF).
            let target: UInt64 = rng.pick([0x0000_8000_0000_0000 | rng.next() >> 20, 0xFFFF_7FFF_FFFF_F000,
                                           UserModeLayout.unmapped + UInt64(rng.below(0x1000)),
                                           UserModeLayout.noExecute + UInt64(rng.below(0x1000)),
                                           UserModeLayout.notPresent, UserModeLayout.vectorStubs,
                                           UserModeLayout.supervisor + UInt64(rng.below(0x1000))])
            let register = rng.register()
            let form = rng.below(3)
            let branch: [UInt8] = form == 2 ? X86.push(register) + X86.ret
                : X86.registers([0xFF], reg: form == 0 ? 4 : 2, rm: register, wide: false)
            userCase.code = X86.move(register, target) + branch
            userCase.description = "\(["jmp", "call", "push/ret"][form]) to \(hex(target))"
        }
        return userCase
    }
}
