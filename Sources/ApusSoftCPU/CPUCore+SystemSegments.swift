import ApusCore

/// Group 6 (0F 00: SLDT, STR, LLDT, LTR, VERR, VERW) and the debug registers (0F 21, 0F 23): what an OS does once at
/// start-up to install its TSS and LDT and to read or clear the debug state.
extension CPUCore {
    static let debugRegister6Fixed: UInt64 = 0xFFFF_0FF0
    static let debugRegister7Fixed: UInt64 = 0x400

    func systemSegmentInstruction(_ i: inout Instruction) throws {
        let (modrm, operand) = try decodeModRM(&i)
        switch modrm.reg & 7 {
        case 0, 1:
            // SLDT, STR: a register destination takes the operand size (zero-extended); memory takes 16 bits.
            guard protectedMode else { throw CPUFault.ud }
            let selector = UInt64(modrm.reg & 7 == 0 ? sregs.ldt.selector : sregs.tr.selector)
            if case .register = operand { try write(operand, size: i.operandSize, selector, i) } else {
                try write(operand, size: 2, selector, i)
            }
        case 2, 3:
            guard protectedMode else { throw CPUFault.ud }
            guard cpl == 0 else { throw CPUFault.gp() }
            let selector = UInt16(try read(operand, size: 2, i) & 0xFFFF)
            if modrm.reg & 7 == 2 { try loadLocalDescriptorTable(selector) } else { try loadTaskRegister(selector) }
        case 4, 5:
            guard protectedMode else { throw CPUFault.ud }
            let selector = UInt16(try read(operand, size: 2, i) & 0xFFFF)
            let accessible = try segmentIsAccessible(selector, forWriting: modrm.reg & 7 == 5)
            rflags = accessible ? rflags | Flag.zf : rflags & ~Flag.zf
        default:
            throw CPUFault.ud
        }
    }

    /// VERR/VERW: whether `selector` names a code or data segment this code may read (or write), checked without
    /// faulting. Linux executes VERW on every return to user space to clear CPU buffers (MDS mitigation).
    private func segmentIsAccessible(_ selector: UInt16, forWriting: Bool) throws -> Bool {
        guard let descriptor = try queriedDescriptor(selector), descriptor.s else { return false }
        let code = descriptor.type & 0x8 != 0
        let conforming = code && descriptor.type & 0x4 != 0
        if !conforming && Int(descriptor.dpl) < max(Int(cpl), Int(selector & 3)) { return false }
        if forWriting { return !code && descriptor.type & 0x2 != 0 }
        return !code || descriptor.type & 0x2 != 0
    }

    /// LLDT (SDM Vol. 2A, LLDT): a null selector leaves the LDT unusable; otherwise the selector must name an LDT
    /// descriptor (type 2) in the GDT, 16 bytes in IA-32e mode with a canonical base: #GP(selector), or
    /// #NP(selector) when not present.
    private func loadLocalDescriptorTable(_ selector: UInt16) throws {
        guard selector & 0xFFFC != 0 else {
            sregs.ldt = Segment(selector: selector, type: 0x2, present: false, s: false, unusable: true)
            return
        }
        var descriptor = try systemDescriptor(selector)
        guard !descriptor.s, descriptor.type == 0x2 else { throw CPUFault.gp(UInt32(selector & 0xFFFC)) }
        guard descriptor.present else { throw CPUFault(vector: .segmentNotPresent, errorCode: UInt32(selector & 0xFFFC)) }
        guard !longMode || isCanonical(descriptor.base) else { throw CPUFault.gp(UInt32(selector & 0xFFFC)) }
        descriptor.selector = selector
        sregs.ldt = descriptor
    }

    /// LTR: an available TSS descriptor, which becomes busy (type 0xB) in the GDT.
    private func loadTaskRegister(_ selector: UInt16) throws {
        guard selector & 0xFFFC != 0 else { throw CPUFault.gp(0) }
        var descriptor = try systemDescriptor(selector)
        guard !descriptor.s, descriptor.type == 0x9 || (!longMode && descriptor.type == 0x1) else {
            throw CPUFault.gp(UInt32(selector & 0xFFFC))
        }
        guard descriptor.present else { throw CPUFault(vector: .segmentNotPresent, errorCode: UInt32(selector & 0xFFFC)) }
        let typeByte = try descriptorAddress(selector) &+ 5
        try writeSystem(typeByte, size: 1, try readSystem(typeByte, size: 1) | 0x02)
        descriptor.type |= 0x2
        descriptor.selector = selector
        sregs.tr = descriptor
    }

    /// A system descriptor from the GDT (LDT and TSS descriptors may not live in an LDT: a TI=1 selector is
    /// #GP(selector)): 8 bytes, or 16 in long mode, whose second half holds base bits 32-63.
    private func systemDescriptor(_ selector: UInt16) throws -> Segment {
        guard selector & 4 == 0 else { throw CPUFault.gp(UInt32(selector & 0xFFFC)) }
        var descriptor = try readDescriptor(selector)
        if longMode {
            let address = try descriptorAddress(selector, size: 16)
            descriptor.base |= (try readSystem(address &+ 8, size: 4)) << 32
        }
        return descriptor
    }

    /// MOV r, DRn (0F 21) and MOV DRn, r (0F 23) at CPL 0. Breakpoints are kept, not armed: no #DB is raised.
    func moveDebugRegister(_ i: inout Instruction, toDebugRegister: Bool) throws {
        guard cpl == 0 else { throw CPUFault.gp() }
        let (reg, index) = try decodeRegisterForm(&i)
        guard reg <= 7 else { throw CPUFault.ud }
        var number = reg
        if number == 4 || number == 5 {
            guard sregs.cr4 & ControlRegister.cr4DE == 0 else { throw CPUFault.ud }
            number += 2
        }
        let width = is64BitCode ? 8 : 4
        if toDebugRegister {
            let value = register(index, size: width)
            switch number {
            case 6: debugRegisters[6] = value & 0xF00F | Self.debugRegister6Fixed
            case 7: debugRegisters[7] = value & 0xFFFF_2BFF | Self.debugRegister7Fixed
            default: debugRegisters[number] = value
            }
        } else {
            setRegister(index, size: width, debugRegisters[number])
        }
    }
}
