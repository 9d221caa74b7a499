import ApusCore

/// Loading segment registers: selector × 16 in real mode, a descriptor from the GDT in protected and long mode.
extension CPUCore {
    func loadSegment(_ register: SegmentRegister, selector: UInt16) throws {
        guard protectedMode else {
            var segment = self[register]
            segment.selector = selector
            segment.base = UInt64(selector) << 4
            self[register] = segment
            return
        }
        if selector & 0xFFFC == 0 {
            guard register != .cs && (register != .ss || is64BitCode) else { throw CPUFault.gp(0) }
            self[register] = Segment(base: 0, limit: 0, selector: selector, type: 0, present: false, unusable: true)
            return
        }
        let descriptor = try readDescriptor(selector)
        guard descriptor.present else {
            throw CPUFault(vector: register == .ss ? .stackFault : .segmentNotPresent, errorCode: UInt32(selector & 0xFFFC))
        }
        self[register] = descriptor
    }

    /// The 8-byte descriptor `selector` names in the GDT (the LDT is not modelled: a TI=1 selector is #GP).
    func readDescriptor(_ selector: UInt16) throws -> Segment {
        let index = UInt64(selector & 0xFFF8)
        guard selector & 4 == 0, index + 7 <= UInt64(sregs.gdt.limit) else {
            throw CPUFault.gp(UInt32(selector & 0xFFFC))
        }
        let raw = try readSystem(sregs.gdt.base &+ index, size: 8)
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
}
