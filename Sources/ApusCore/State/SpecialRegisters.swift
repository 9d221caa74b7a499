/// A segment register with its hidden descriptor cache, as KVM and the SDM describe it.
public struct Segment: Equatable, Sendable, Codable {
    public var base: UInt64 = 0
    public var limit: UInt32 = 0xFFFF
    public var selector: UInt16 = 0
    /// Descriptor type field (bits 8-11 of the access byte).
    public var type: UInt8 = 0
    public var present = true
    public var dpl: UInt8 = 0
    /// Default operation size (D/B): 1 = 32-bit.
    public var db = false
    /// Code or data (S): false for system segments such as the TSS and LDT.
    public var s = true
    /// 64-bit code segment (L).
    public var l = false
    /// Granularity: limit counted in 4 KiB units.
    public var g = false
    public var avl = false
    public var unusable = false

    public init(base: UInt64 = 0, limit: UInt32 = 0xFFFF, selector: UInt16 = 0, type: UInt8 = 0, present: Bool = true,
                dpl: UInt8 = 0, db: Bool = false, s: Bool = true, l: Bool = false, g: Bool = false,
                avl: Bool = false, unusable: Bool = false) {
        self.base = base; self.limit = limit; self.selector = selector; self.type = type; self.present = present
        self.dpl = dpl; self.db = db; self.s = s; self.l = l; self.g = g; self.avl = avl; self.unusable = unusable
    }

    /// Real-mode segment: base = selector × 16, 64 KiB limit, read/write data or execute/read code.
    public static func realMode(selector: UInt16, code: Bool = false) -> Segment {
        Segment(base: UInt64(selector) << 4, limit: 0xFFFF, selector: selector, type: code ? 0xB : 0x3)
    }
}

/// The base and limit of the GDT or IDT.
public struct DescriptorTable: Equatable, Sendable, Codable {
    public var base: UInt64 = 0
    public var limit: UInt16 = 0xFFFF
    public init(base: UInt64 = 0, limit: UInt16 = 0xFFFF) { self.base = base; self.limit = limit }
}

/// Segment, descriptor-table and control registers, plus EFER and the APIC base.
public struct SpecialRegisters: Equatable, Sendable, Codable {
    public var cs = Segment.realMode(selector: 0, code: true)
    public var ds = Segment.realMode(selector: 0)
    public var es = Segment.realMode(selector: 0)
    public var fs = Segment.realMode(selector: 0)
    public var gs = Segment.realMode(selector: 0)
    public var ss = Segment.realMode(selector: 0)
    public var tr = Segment(limit: 0xFFFF, type: 0xB, s: false)
    public var ldt = Segment(limit: 0xFFFF, type: 0x2, s: false)
    public var gdt = DescriptorTable()
    public var idt = DescriptorTable(base: 0, limit: 0x3FF)
    public var cr0: UInt64 = 0x6000_0010
    public var cr2: UInt64 = 0
    public var cr3: UInt64 = 0
    public var cr4: UInt64 = 0
    public var cr8: UInt64 = 0
    public var efer: UInt64 = 0
    public var apicBase: UInt64 = 0xFEE0_0900

    public init() {}
}

public enum ControlRegister {
    public static let cr0PE: UInt64 = 1 << 0
    public static let cr0MP: UInt64 = 1 << 1
    public static let cr0EM: UInt64 = 1 << 2
    public static let cr0TS: UInt64 = 1 << 3
    public static let cr0ET: UInt64 = 1 << 4
    public static let cr0NE: UInt64 = 1 << 5
    public static let cr0WP: UInt64 = 1 << 16
    public static let cr0PG: UInt64 = 1 << 31
    public static let cr4DE: UInt64 = 1 << 3
    public static let cr4PSE: UInt64 = 1 << 4
    public static let cr4PAE: UInt64 = 1 << 5
    public static let cr4PGE: UInt64 = 1 << 7
    public static let cr4OSFXSR: UInt64 = 1 << 9
    public static let cr4OSXMMEXCPT: UInt64 = 1 << 10
    public static let eferSCE: UInt64 = 1 << 0
    public static let eferLME: UInt64 = 1 << 8
    public static let eferLMA: UInt64 = 1 << 10
    public static let eferNXE: UInt64 = 1 << 11
}
