import ApusCore

/// Where a selector's descriptor lives: the GDT, or with TI set the LDT that LDTR caches (SDM Vol. 3, 3.4.2, 3.5.1).
/// Every reader of a code, data or gate descriptor comes through here, so a TI=1 selector reaches the LDT from
/// segment loads, far transfers, returns, gates and LAR/LSL/VERR/VERW alike.
extension CPUCore {
    /// The linear address of the `size`-byte descriptor `selector` names, after the table's limit check: #GP(selector)
    /// when it lies beyond the limit, or when TI names the LDT and LDTR holds none (null or unusable).
    func descriptorAddress(_ selector: UInt16, size: UInt64 = 8) throws -> UInt64 {
        let index = UInt64(selector & 0xFFF8)
        let base: UInt64, limit: UInt64
        if selector & 4 != 0 {
            guard !sregs.ldt.unusable, sregs.ldt.present else { throw CPUFault.gp(UInt32(selector & 0xFFFC)) }
            base = sregs.ldt.base
            limit = UInt64(sregs.ldt.limit)
        } else {
            base = sregs.gdt.base
            limit = UInt64(sregs.gdt.limit)
        }
        guard index + size - 1 <= limit else { throw CPUFault.gp(UInt32(selector & 0xFFFC)) }
        return base &+ index
    }

    /// The descriptor LAR, LSL, VERR and VERW ask about, or nil for a null selector or one outside its table (they
    /// clear ZF rather than fault); reading the table can still fault (#PF) or need the VMM, as any access can.
    func queriedDescriptor(_ selector: UInt16) throws -> Segment? {
        guard selector & 0xFFFC != 0, (try? descriptorAddress(selector)) != nil else { return nil }
        return try readDescriptor(selector)
    }

    /// The 8-byte descriptor `selector` names, decoded as a segment register's hidden part (selector included).
    func readDescriptor(_ selector: UInt16) throws -> Segment {
        let raw = try readSystem(try descriptorAddress(selector), size: 8)
        let limit = UInt32(raw & 0xFFFF) | UInt32((raw >> 48) & 0xF) << 16
        let granular = (raw >> 55) & 1 != 0
        return Segment(base: ((raw >> 16) & 0xFF_FFFF) | ((raw >> 56) & 0xFF) << 24,
                       limit: granular ? limit << 12 | 0xFFF : limit,
                       selector: selector,
                       type: UInt8((raw >> 40) & 0xF),
                       present: (raw >> 47) & 1 != 0,
                       dpl: UInt8((raw >> 45) & 3),
                       db: (raw >> 54) & 1 != 0,
                       s: (raw >> 44) & 1 != 0,
                       l: (raw >> 53) & 1 != 0,
                       g: granular,
                       avl: (raw >> 52) & 1 != 0)
    }

    /// Loading a code or data descriptor into a segment register sets its accessed bit (type bit 0) in the table, as
    /// an implicit supervisor write; one already set is not written again, so a read-only table whose descriptors are
    /// all accessed (as Linux keeps its GDT) is never written. Returns the segment with the bit set.
    func markAccessed(_ segment: Segment) throws -> Segment {
        guard segment.s, segment.type & 1 == 0 else { return segment }
        let typeByte = try descriptorAddress(segment.selector) &+ 5
        let access = try readSystem(typeByte, size: 1)
        if access & 1 == 0 { try writeSystem(typeByte, size: 1, access | 1) }
        var accessed = segment
        accessed.type |= 1
        return accessed
    }

    /// A write to a system structure (a descriptor's accessed or busy bit): a supervisor access whatever the CPL.
    func writeSystem(_ address: UInt64, size: Int, _ value: UInt64) throws {
        guard (address & 0xFFF) + UInt64(size) <= 0x1000 else {
            for i in 0..<size {
                try writeSystem(address &+ UInt64(i), size: 1, (value >> (8 * UInt64(i))) & 0xFF)
            }
            return
        }
        try writePhysical(try translate(address, access: .write, supervisor: true), size: size, value)
    }
}
