import ApusCore

/// LAR, LSL (0F 02, 0F 03) and ARPL (63 outside 64-bit mode): the protected-mode instructions that ask about a
/// selector without loading it. None faults on a bad selector; ZF says whether the answer was written.
extension CPUCore {
    /// LAR (`limit` false) or LSL: the descriptor's access rights or its byte-granular limit, if the selector names
    /// a descriptor of a type the instruction accepts that this code could see (non-conforming: DPL >= CPL and RPL).
    func loadSegmentQuery(_ i: inout Instruction, limit: Bool) throws {
        guard protectedMode else { throw CPUFault.ud }
        let (modrm, operand) = try decodeModRM(&i)
        let selector = UInt16(try read(operand, size: 2, i) & 0xFFFF)
        guard let descriptor = try queriedDescriptor(selector),
              Self.segmentQueryAccepts(descriptor, limit: limit, longMode: longMode) else {
            rflags &= ~Flag.zf
            return
        }
        let conformingCode = descriptor.s && descriptor.type & 0xC == 0xC
        if !conformingCode && Int(descriptor.dpl) < max(Int(cpl), Int(selector & 3)) {
            rflags &= ~Flag.zf
            return
        }
        let value: UInt64
        if limit {
            value = UInt64(descriptor.limit)
        } else {
            // Bits 8-23 of the descriptor's high dword: type, S, DPL, P, then the limit's top nibble (bits 16-19,
            // which LAR leaves zero here), AVL, L, D/B, G.
            var rights = UInt64(descriptor.type) << 8 | (descriptor.s ? 1 << 12 : 0) | UInt64(descriptor.dpl) << 13
            rights |= (descriptor.present ? 1 << 15 : 0) | (descriptor.avl ? 1 << 20 : 0) | (descriptor.l ? 1 << 21 : 0)
            rights |= (descriptor.db ? 1 << 22 : 0) | (descriptor.g ? 1 << 23 : 0)
            value = rights
        }
        setRegister(modrm.reg, size: i.operandSize == 2 ? 2 : 4, value & (i.operandSize == 2 ? 0xFFFF : 0xFFFF_FFFF))
        if i.operandSize == 8 { setRegister(modrm.reg, size: 8, value & 0xFFFF_FFFF) }
        rflags |= Flag.zf
    }

    /// Code and data descriptors always; system descriptors by type (SDM, LAR and LSL): LDT and TSS types for both,
    /// call and task gates for LAR only, and in long mode only the 64-bit LDT, TSS and (for LAR) call gate.
    static func segmentQueryAccepts(_ descriptor: Segment, limit: Bool, longMode: Bool) -> Bool {
        if descriptor.s { return true }
        let type = descriptor.type
        if longMode { return type == 0x2 || type == 0x9 || type == 0xB || (!limit && type == 0xC) }
        if [0x1, 0x2, 0x3, 0x9, 0xB].contains(type) { return true }
        return !limit && [0x4, 0x5, 0xC].contains(type)
    }

    /// ARPL: raises the destination selector's RPL to the source's; ZF says whether it had to.
    func adjustRequestedPrivilege(_ i: inout Instruction) throws {
        guard protectedMode else { throw CPUFault.ud }
        let (modrm, operand) = try decodeModRM(&i)
        let destination = try readForUpdate(operand, size: 2, i)
        let source = register(modrm.reg, size: 2)
        if destination & 3 < source & 3 {
            try write(operand, size: 2, destination & ~3 | source & 3, i)
            rflags |= Flag.zf
        } else {
            rflags &= ~Flag.zf
        }
    }
}
