import ApusCore

/// SSE/SSE2 data movement: whole, scalar, half and masked moves between XMM registers, memory and general
/// registers, the PS/PD unpacks and shuffles, sign-mask extraction, and word insert/extract. No arithmetic, so no
/// MXCSR involvement.
extension CPUCore {
    func sseMove(_ i: inout Instruction, _ op: Int, prefix: Int, reg: Int, _ operand: Operand) throws {
        let isRegister: Bool
        if case .register = operand { isRegister = true } else { isRegister = false }
        switch (prefix, op) {
        case (0, 0x10), (0x66, 0x10), (0xF3, 0x6F):            // MOVUPS, MOVUPD, MOVDQU xmm, xmm/m128
            setXMM(reg, try vector(operand, i, aligned: false))
        case (0, 0x11), (0x66, 0x11), (0xF3, 0x7F):            // MOVUPS, MOVUPD, MOVDQU xmm/m128, xmm
            try store(operand, i, xmm(reg), aligned: false)
        case (0, 0x28), (0x66, 0x28), (0x66, 0x6F):            // MOVAPS, MOVAPD, MOVDQA xmm, xmm/m128
            setXMM(reg, try vector(operand, i, aligned: true))
        case (0, 0x29), (0x66, 0x29), (0x66, 0x7F):            // MOVAPS, MOVAPD, MOVDQA xmm/m128, xmm
            try store(operand, i, xmm(reg), aligned: true)
        case (0, 0x2B), (0x66, 0x2B), (0x66, 0xE7):            // MOVNTPS, MOVNTPD, MOVNTDQ m128, xmm
            guard !isRegister else { throw CPUFault.ud }
            try store(operand, i, xmm(reg), aligned: true)
        case (0xF3, 0x10):                                       // MOVSS xmm, xmm/m32
            if case .register(let index) = operand {
                let destination = xmm(reg)
                setXMM(reg, ((destination.low & ~0xFFFF_FFFF) | (xmm(index).low & 0xFFFF_FFFF), destination.high))
            } else {
                setXMM(reg, (try read(operand, size: 4, i), 0))
            }
        case (0xF3, 0x11):                                       // MOVSS xmm/m32, xmm
            if case .register(let index) = operand {
                let destination = xmm(index)
                setXMM(index, ((destination.low & ~0xFFFF_FFFF) | (xmm(reg).low & 0xFFFF_FFFF), destination.high))
            } else {
                try write(operand, size: 4, xmm(reg).low & 0xFFFF_FFFF, i)
            }
        case (0xF2, 0x10):                                       // MOVSD xmm, xmm/m64
            if case .register(let index) = operand { setXMM(reg, (xmm(index).low, xmm(reg).high)) }
            else { setXMM(reg, (try read(operand, size: 8, i), 0)) }
        case (0xF2, 0x11):                                       // MOVSD xmm/m64, xmm
            try storeQuadword(operand, i, xmm(reg).low)
        case (0, 0x12), (0x66, 0x12):                            // MOVHLPS (register), MOVLPS/MOVLPD (memory)
            if case .register(let index) = operand {
                guard prefix == 0 else { throw CPUFault.ud }
                setXMM(reg, (xmm(index).high, xmm(reg).high))
            } else {
                setXMM(reg, (try read(operand, size: 8, i), xmm(reg).high))
            }
        case (0, 0x13), (0x66, 0x13):                            // MOVLPS/MOVLPD m64, xmm
            guard !isRegister else { throw CPUFault.ud }
            try write(operand, size: 8, xmm(reg).low, i)
        case (0, 0x16), (0x66, 0x16):                            // MOVLHPS (register), MOVHPS/MOVHPD (memory)
            if case .register(let index) = operand {
                guard prefix == 0 else { throw CPUFault.ud }
                setXMM(reg, (xmm(reg).low, xmm(index).low))
            } else {
                setXMM(reg, (xmm(reg).low, try read(operand, size: 8, i)))
            }
        case (0, 0x17), (0x66, 0x17):                            // MOVHPS/MOVHPD m64, xmm
            guard !isRegister else { throw CPUFault.ud }
            try write(operand, size: 8, xmm(reg).high, i)
        case (0, 0x14), (0, 0x15):                               // UNPCKLPS, UNPCKHPS
            let a = xmm(reg), b = try vector(operand, i, aligned: true)
            let base = op == 0x14 ? 0 : 2
            setXMM(reg, fromDwords(dword(a, base), dword(b, base), dword(a, base + 1), dword(b, base + 1)))
        case (0x66, 0x14):                                       // UNPCKLPD
            let b = try vector(operand, i, aligned: true)
            setXMM(reg, (xmm(reg).low, b.low))
        case (0x66, 0x15):                                       // UNPCKHPD
            let b = try vector(operand, i, aligned: true)
            setXMM(reg, (xmm(reg).high, b.high))
        case (0, 0xC6):                                          // SHUFPS xmm, xmm/m128, imm8
            let control = Int(try fetch8(&i))
            let a = xmm(reg), b = try vector(operand, i, aligned: true)
            setXMM(reg, fromDwords(dword(a, control & 3), dword(a, (control >> 2) & 3),
                               dword(b, (control >> 4) & 3), dword(b, control >> 6)))
        case (0x66, 0xC6):                                       // SHUFPD xmm, xmm/m128, imm8
            let control = try fetch8(&i)
            let a = xmm(reg), b = try vector(operand, i, aligned: true)
            setXMM(reg, (control & 1 == 0 ? a.low : a.high, control & 2 == 0 ? b.low : b.high))
        case (0x66, 0x70):                                       // PSHUFD xmm, xmm/m128, imm8
            let control = Int(try fetch8(&i))
            let source = try vector(operand, i, aligned: true)
            setXMM(reg, fromDwords(dword(source, control & 3), dword(source, (control >> 2) & 3),
                                   dword(source, (control >> 4) & 3), dword(source, control >> 6)))
        case (0xF3, 0x70), (0xF2, 0x70):                         // PSHUFHW / PSHUFLW xmm, xmm/m128, imm8
            let control = try fetch8(&i)
            let source = try vector(operand, i, aligned: true)
            let half = prefix == 0xF3 ? source.high : source.low
            var shuffled: UInt64 = 0
            for lane in 0..<4 {
                let pick = (control >> UInt64(2 * lane)) & 3
                shuffled |= ((half >> (16 * pick)) & 0xFFFF) << UInt64(16 * lane)
            }
            setXMM(reg, prefix == 0xF3 ? (source.low, shuffled) : (shuffled, source.high))
        case (0, 0x50), (0x66, 0x50):                            // MOVMSKPS, MOVMSKPD r32, xmm
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let source = xmm(index)
            let mask = prefix == 0
                ? (0..<4).reduce(UInt64(0)) { $0 | (dword(source, $1) >> 31) << UInt64($1) }
                : source.low >> 63 | (source.high >> 63) << 1
            setRegister(reg, size: 8, mask)
        case (0x66, 0x6E):                                       // MOVD/MOVQ xmm, r/m32/64
            let size = i.rexW ? 8 : 4
            setXMM(reg, (try read(operand, size: size, i), 0))
        case (0x66, 0x7E):                                       // MOVD/MOVQ r/m32/64, xmm
            let size = i.rexW ? 8 : 4
            try write(operand, size: size, xmm(reg).low & Flag.mask(size), i)
        case (0xF3, 0x7E):                                       // MOVQ xmm, xmm/m64 (clears the upper half)
            setXMM(reg, (try quadword(operand, i), 0))
        case (0x66, 0xD6):                                       // MOVQ xmm/m64, xmm
            if case .register(let index) = operand { setXMM(index, (xmm(reg).low, 0)) }
            else { try write(operand, size: 8, xmm(reg).low, i) }
        case (0xF3, 0xD6), (0xF2, 0xD6):                         // MOVQ2DQ xmm, mm; MOVDQ2Q mm, xmm
            guard case .register(let index) = operand else { throw CPUFault.ud }
            if fpu.fxsave[2] & 0x80 != 0 { throw CPUFault(vector: .floatingPointError, errorCode: nil) }
            enterMMXMode()
            if prefix == 0xF3 { setXMM(reg, (mm(index & 7), 0)) } else { setMM(reg & 7, xmm(index).low) }
        case (0x66, 0xD7):                                       // PMOVMSKB r32, xmm
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let source = xmm(index)
            var mask: UInt64 = 0
            for byte in 0..<8 {
                mask |= ((source.low >> UInt64(8 * byte + 7)) & 1) << UInt64(byte)
                mask |= ((source.high >> UInt64(8 * byte + 7)) & 1) << UInt64(byte + 8)
            }
            setRegister(reg, size: 8, mask)
        case (0x66, 0xC4):                                       // PINSRW xmm, r32/m16, imm8
            let control = try fetch8(&i)
            let word: UInt64
            if case .register(let index) = operand { word = gpr[index] & 0xFFFF } else { word = try read(operand, size: 2, i) }
            let lane = Int(control & 7)
            var value = xmm(reg)
            let shift = UInt64(16 * (lane & 3))
            if lane < 4 { value.low = (value.low & ~(0xFFFF << shift)) | word << shift }
            else { value.high = (value.high & ~(0xFFFF << shift)) | word << shift }
            setXMM(reg, value)
        case (0x66, 0xC5):                                       // PEXTRW r32, xmm, imm8
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let lane = Int(try fetch8(&i) & 7)
            let source = xmm(index)
            setRegister(reg, size: 4, ((lane < 4 ? source.low : source.high) >> UInt64(16 * (lane & 3))) & 0xFFFF)
        case (0x66, 0xF7):                                       // MASKMOVDQU xmm, xmm: DS:rDI, selected bytes
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let data = xmm(reg), mask = xmm(index)
            let base = gpr[7] & Flag.mask(i.addressSize)
            let segment = i.segment ?? .ds
            for byte in 0..<16 {
                let half = byte < 8 ? mask.low : mask.high
                guard (half >> UInt64(8 * (byte & 7) + 7)) & 1 != 0 else { continue }
                let value = ((byte < 8 ? data.low : data.high) >> UInt64(8 * (byte & 7))) & 0xFF
                try write(segment, (base &+ UInt64(byte)) & Flag.mask(i.addressSize), size: 1, value)
            }
        default:
            throw CPUFault.ud
        }
    }
}
