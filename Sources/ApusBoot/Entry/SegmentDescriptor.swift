public import ApusCore

/// A GDT segment descriptor (SDM Vol. 3, 3.4.5), encoded for memory and decoded into the hidden part a CPU loads
/// into a segment register. Entry states derive every segment cache from the same descriptor they write, so the
/// registers always match the GDT exactly.
public struct SegmentDescriptor: Equatable, Sendable {
    public var base: UInt64
    /// The 20-bit limit field as stored; in 4 KiB units when `g` is set.
    public var limit: UInt32
    /// Type field, including the accessed bit (bit 0) for code and data.
    public var type: UInt8
    /// Code or data (true) versus system (false).
    public var s: Bool
    public var dpl: UInt8
    public var present: Bool
    public var avl: Bool
    public var l: Bool
    public var db: Bool
    public var g: Bool

    public init(base: UInt64, limit: UInt32, type: UInt8, s: Bool, dpl: UInt8 = 0, present: Bool = true,
                avl: Bool = false, l: Bool = false, db: Bool, g: Bool) {
        self.base = base; self.limit = limit & 0xF_FFFF; self.type = type & 0xF; self.s = s; self.dpl = dpl & 3
        self.present = present; self.avl = avl; self.l = l; self.db = db; self.g = g
    }

    /// Decodes the 8 bytes at a descriptor's slot; `high` is the following slot, which carries base bits 63-32 of a
    /// system descriptor in long mode.
    public init(low: UInt64, high: UInt64 = 0) {
        let access = UInt8(truncatingIfNeeded: low >> 40)
        let flags = UInt8(truncatingIfNeeded: low >> 52) & 0xF
        let system = access & 0x10 == 0
        self.init(base: (low >> 16) & 0xFF_FFFF | ((low >> 56) & 0xFF) << 24 | (system ? (high & 0xFFFF_FFFF) << 32 : 0),
                  limit: UInt32(low & 0xFFFF) | UInt32((low >> 48) & 0xF) << 16,
                  type: access & 0xF, s: !system, dpl: (access >> 5) & 3, present: access & 0x80 != 0,
                  avl: flags & 1 != 0, l: flags & 2 != 0, db: flags & 4 != 0, g: flags & 8 != 0)
    }

    /// The first 8 bytes as they sit in the GDT.
    public var low: UInt64 {
        var access = UInt64(type) | UInt64(dpl) << 5
        if s { access |= 0x10 }
        if present { access |= 0x80 }
        var flags: UInt64 = 0
        if avl { flags |= 1 }
        if l { flags |= 2 }
        if db { flags |= 4 }
        if g { flags |= 8 }
        return UInt64(limit & 0xFFFF) | (base & 0xFF_FFFF) << 16 | access << 40 | UInt64(limit >> 16) << 48
            | flags << 52 | ((base >> 24) & 0xFF) << 56
    }

    /// The second 8 bytes of a 16-byte long-mode system descriptor (TSS, LDT).
    public var high: UInt64 { base >> 32 }

    /// The byte limit: the limit field scaled to 4 KiB pages with the low 12 bits set when `g` is on.
    public var byteLimit: UInt32 { g ? limit << 12 | 0xFFF : limit }

    /// The segment register contents after loading `selector` from this descriptor.
    public func segment(selector: UInt16) -> Segment {
        Segment(base: base, limit: byteLimit, selector: selector, type: type, present: present, dpl: dpl, db: db,
                s: s, l: l, g: g, avl: avl, unusable: false)
    }

    /// Flat 4 GiB execute/read code, accessed: 64-bit (L=1, D=0) or 32-bit (D=1).
    public static func flatCode(longMode: Bool) -> SegmentDescriptor {
        SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0xB, s: true, l: longMode, db: !longMode, g: true)
    }

    /// Flat 4 GiB read/write data, accessed, 32-bit (B=1): also what long mode loads into DS, ES, SS.
    public static let flatData = SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0x3, s: true, db: true, g: true)

    /// A busy TSS (type 0xB: 64-bit in long mode, 32-bit otherwise), as the CPU marks it after LTR.
    public static func busyTSS(base: UInt64, limit: UInt32) -> SegmentDescriptor {
        SegmentDescriptor(base: base, limit: limit, type: 0xB, s: false, db: false, g: false)
    }
}
