import ApusTesting

/// PUSHF/POPF (64- and 16-bit) at CPL3 under IOPL 0, where IF and IOPL changes are silently dropped;
/// CLC STC CMC CLD STD LAHF SAHF, and CLI/STI (#GP unless IOPL is 3).
struct FlagCases {
    var rng: SplitMix64

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "flags", code: [], description: "", registers: rng.registers())
        switch rng.below(3) {
        case 0:
            // Any value but TF (a single-step trap) and NT into RFLAGS, then read back what stuck. NT is left out
            // because this host's KVM clears it when a host interrupt lands in the guest's user code (about one
            // case in 10,000 with NT set), which would make the referee flaky.
            let value = rng.value() & ~0x4100
            userCase.code = X86.move(0, value) + X86.push(0) + X86.popfq + X86.pushfq + X86.pop(3)
            userCase.description = "popfq \(hex(value))"
        case 1:
            let value = rng.value() & 0xFFFF & ~0x4100
            userCase.code = X86.move(0, value) + [0x66, 0x50, 0x66, 0x9D, 0x66, 0x9C] + X86.pop(3)
            userCase.description = "popf16 \(hex(value))"
        default:
            var names: [String] = []
            let forms: [([UInt8], String)] = [([0xF8], "clc"), ([0xF9], "stc"), ([0xF5], "cmc"), ([0xFC], "cld"),
                                              ([0xFD], "std"), ([0x9F], "lahf"), ([0x9E], "sahf"),
                                              ([0xB4, UInt8(truncatingIfNeeded: rng.next())], "mov ah"),
                                              ([0xFA], "cli"), ([0xFB], "sti")]
            for _ in 0..<(1 + rng.below(6)) {
                let (bytes, name) = rng.pick(forms)
                userCase.code += bytes
                names.append(name)
            }
            userCase.code += X86.pushfq + X86.pop(3)
            userCase.description = names.joined(separator: "; ")
        }
        return userCase
    }
}
