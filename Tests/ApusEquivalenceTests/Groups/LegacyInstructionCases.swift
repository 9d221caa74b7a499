import ApusTesting

/// The instructions issue 18 added, as far as 64-bit user code reaches them: the one-byte opcodes that are #UD in
/// 64-bit mode (the BCD adjustments, PUSHA/POPA, segment pushes and pops, INTO, AAM/AAD, SALC, far CALL/JMP ptr,
/// the 82 alias), MOV moffs (A0-A3 with 64-bit offsets, and 67h's 32-bit ones), RDRAND/RDSEED (their flags: the
/// value is the entropy source's), CLAC/STAC (#UD above CPL 0), and INT1.
///
/// Left out, because this host's KVM runs ring 3 natively with the host's own state: C4/C5/62 (VEX/EVEX prefixes in
/// 64-bit mode, which the host's AVX executes), XGETBV (the host's CR4.OSXSAVE and XCR0), RDTSCP/RDPID (the host's
/// TSC and TSC_AUX), SMSW, segment loads and stores and far transfers (the host's GDT and selectors).
struct LegacyInstructionCases {
    var rng: SplitMix64

    static let invalidIn64BitMode: [UInt8] = [0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F, 0x60,
                                              0x61, 0x82, 0x9A, 0xCE, 0xD4, 0xD5, 0xD6, 0xEA]

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "legacy", code: [], description: "", registers: rng.registers())
        switch rng.below(5) {
        case 0:
            let opcode = rng.pick(Self.invalidIn64BitMode)
            let prefix: [UInt8] = rng.chance(30) ? [rng.pick([0x66, 0x67, 0xF3, 0x2E, 0x41, 0x48])] : []
            userCase.code = prefix + [opcode] + (0..<6).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            userCase.description = "i64 opcode \(hex(opcode))"
        case 1:
            userCase.code = moffs(&userCase)
        case 2:
            // RDRAND/RDSEED r16/r32/r64, then overwrite the register with MOV (flags untouched) so only flags count.
            let register = rng.register()
            let seed = rng.chance(30)
            let width = rng.pick([2, 4, 8])
            let prefix: [UInt8] = (width == 2 ? [0x66] : []) + X86.rex(wide: width == 8, base: register)
            userCase.code = prefix + [0x0F, 0xC7, UInt8(0xC0 | (seed ? 7 : 6) << 3 | register & 7)] + X86.move(register, 0)
            userCase.description = (seed ? "rdseed" : "rdrand") + " r\(register) width \(width)"
            // RDSEED may find the conditioner empty (CF=0) on a busy host; every other flag is cleared either way.
            if seed { userCase.undefinedFlags = 1 }
        case 3:
            let form: (bytes: [UInt8], name: String) = rng.pick([([0x0F, 0x01, 0xCA], "clac"), ([0x0F, 0x01, 0xCB], "stac")])
            userCase.code = form.bytes
            userCase.description = form.name
        default:
            userCase.code = [0xF1]
            userCase.description = "int1"
        }
        return userCase
    }

    /// MOV AL/rAX <-> moffs into the data page, 8-byte offsets or (67h) 4-byte ones, any operand size.
    private mutating func moffs(_ userCase: inout UserCase) -> [UInt8] {
        let opcode = UInt8(0xA0 + rng.below(4))
        let address = UserModeLayout.data + UInt64(rng.below(0x2000 - 8))
        let short = rng.chance(30)
        var prefix: [UInt8] = []
        if short { prefix.append(0x67) }
        if rng.chance(25) { prefix.append(0x66) }
        if rng.chance(40) { prefix.append(0x48) }
        let offset = short ? X86.bytes(address, 4) : X86.bytes(address, 8)
        userCase.description = "moffs \(hex(opcode)) \(hex(address)) prefixes \(prefix.map { hex($0) })"
        return prefix + [opcode] + offset
    }
}
