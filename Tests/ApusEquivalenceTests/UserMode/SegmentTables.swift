import ApusBoot
import ApusCore

/// The descriptor tables the segment-loads group runs with: the CPL3 runner's GDT plus one descriptor of every kind
/// a segment load must tell apart, and an LDT. Other groups keep the plain GDT (SGDT's recorded limit stays true).
///
///     GDT 0x38 read-only data DPL3 (not accessed)   0x40/0x48/0x50 writable data DPL 0/1/2
///         0x58 execute-only code DPL3   0x60 readable 64-bit code DPL3   0x68 readable conforming code DPL0
///         0x70 readable code DPL0   0x78 data DPL3 not present   0x80 readable code DPL3 not present
///         0x88 writable expand-down data DPL3 (not accessed)   0x90 writable data DPL3 (not accessed)
///         0x98 call gate DPL3 (16 bytes)   0xA8 the LDT (16 bytes)   0xB8 available TSS (16 bytes)
///         0xC8 system type 0 (reserved)    limit 0xCF
///     LDT at 0x5000: 0x04 writable data DPL3 (not accessed)   0x0C writable data DPL0   0x14 data DPL3 not present
///         0x1C readable code DPL3   0x24 execute-only code DPL3   limit 0x27
enum SegmentTables {
    static let ldtBase: UInt64 = 0x5000
    static let ldtSelector: UInt16 = 0xA8

    private static func data(_ type: UInt8, dpl: UInt8, present: Bool = true) -> SegmentDescriptor {
        SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: type, s: true, dpl: dpl, present: present, db: true, g: true)
    }
    private static func code(_ type: UInt8, dpl: UInt8, present: Bool = true, long: Bool = false) -> SegmentDescriptor {
        SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: type, s: true, dpl: dpl, present: present, l: long,
                          db: !long, g: true)
    }
    private static func system(_ type: UInt8, base: UInt64, limit: UInt32, dpl: UInt8 = 0) -> SegmentDescriptor {
        SegmentDescriptor(base: base, limit: limit, type: type, s: false, dpl: dpl, db: false, g: false)
    }

    static let ldt: [SegmentDescriptor] = [data(0x2, dpl: 3), data(0x3, dpl: 0), data(0x3, dpl: 3, present: false),
                                           code(0xB, dpl: 3), code(0x9, dpl: 3)]
    static let ldtLimit = UInt32(ldt.count * 8 - 1)

    /// The 8-byte slots after the runner's GDT (null, codes, data, TSS): 16-byte system descriptors take two.
    static let extraSlots: [UInt64] = {
        var slots = [data(0x0, dpl: 3), data(0x3, dpl: 0), data(0x3, dpl: 1), data(0x3, dpl: 2), code(0x9, dpl: 3),
                     code(0xB, dpl: 3, long: true), code(0xF, dpl: 0), code(0xB, dpl: 0),
                     data(0x3, dpl: 3, present: false), code(0xB, dpl: 3, present: false), data(0x6, dpl: 3),
                     data(0x2, dpl: 3)].map(\.low)
        // A 64-bit call gate to the user code segment (a segment load must refuse it), then the LDT, an available
        // TSS and a reserved system type.
        let gate: UInt64 = 0x100000 & 0xFFFF | UInt64(UserModeLayout.userCode) << 16 | 0xEC << 40 | (0x100000 >> 16) << 48
        slots += [gate, 0]
        let table = system(0x2, base: ldtBase, limit: ldtLimit)
        slots += [table.low, table.high]
        let task = system(0x9, base: UserModeLayout.tss, limit: 0x67)
        slots += [task.low, task.high]
        slots += [system(0x0, base: 0, limit: 0).low]
        return slots
    }()

    /// Every 8-byte GDT slot: the runner's own, then the extra ones.
    static var gdtSlots: [UInt64] {
        UserModeLayout.descriptors.map(\.low) + [UserModeLayout.task.low, UserModeLayout.task.high] + extraSlots
    }
    static var gdtLimit: UInt16 { UInt16(gdtSlots.count * 8 - 1) }

    static var ldtBytes: [UInt8] { UserModeLayout.words(ldt.map(\.low)) }
    static var gdtBytes: [UInt8] { UserModeLayout.words(gdtSlots) }
    static var localTableSegment: Segment { system(0x2, base: ldtBase, limit: ldtLimit).segment(selector: ldtSelector) }
}

/// What the SDM (Vol. 2, MOV, POP, LDS/LES/LFS/LGS/LSS) says loading a selector at CPL3 in 64-bit mode does with
/// SegmentTables' descriptors: written from the manual's checks, independently of the software CPU, to referee the
/// loads KVM cannot referee on this host.
enum SegmentLoadRule {
    enum Result: Equatable {
        case loads
        case fault(vector: Int, errorCode: UInt64)
    }

    /// `register`: 0 ES, 2 SS, 3 DS, 4 FS, 5 GS.
    static func load(_ selector: UInt16, into register: Int) -> Result {
        let stack = register == 2
        let error = UInt64(selector & 0xFFFC)
        let rpl = UInt8(selector & 3)
        if selector & 0xFFFC == 0 {
            return stack ? .fault(vector: 13, errorCode: 0) : .loads   // a null SS only below CPL3 in 64-bit mode
        }
        let index = Int(selector >> 3)
        let local = selector & 4 != 0
        let limit = local ? Int(SegmentTables.ldtLimit) : Int(SegmentTables.gdtLimit)
        guard index * 8 + 7 <= limit else { return .fault(vector: 13, errorCode: error) }
        let raw = local ? SegmentTables.ldt[index].low : SegmentTables.gdtSlots[index]
        let descriptor = SegmentDescriptor(low: raw)
        let code = descriptor.type & 8 != 0
        if stack {
            // RPL = CPL, a writable data segment, DPL = CPL; then present (#SS).
            guard rpl == 3, descriptor.s, !code, descriptor.type & 2 != 0, descriptor.dpl == 3 else {
                return .fault(vector: 13, errorCode: error)
            }
            return descriptor.present ? .loads : .fault(vector: 12, errorCode: error)
        }
        // Data or readable code; data and non-conforming code need max(CPL, RPL) <= DPL; then present (#NP).
        guard descriptor.s, !code || descriptor.type & 2 != 0 else { return .fault(vector: 13, errorCode: error) }
        let conforming = code && descriptor.type & 4 != 0
        if !conforming && descriptor.dpl < 3 { return .fault(vector: 13, errorCode: error) }
        return descriptor.present ? .loads : .fault(vector: 11, errorCode: error)
    }
}
