import ApusCore

/// One generated case for the CPL3 runner: code that starts at the user code page with these registers and flags
/// (RFLAGS may carry IOPL and IF: the IRETQ that enters the case loads them) and ends in a trap.
struct UserCase {
    var group: String
    var code: [UInt8]
    var description: String
    var registers = Registers()
    /// Flags the SDM leaves undefined after this case (hardware may set them either way): left out of comparisons.
    var undefinedFlags: UInt64 = 0
    var userStack = UserModeLayout.userStackTop
    /// x87/SSE state to start from (SSE cases); other cases leave whatever the last case left, and never read it.
    var fpu: FPUState?
    /// Set when the case runs a sensitive-but-unprivileged instruction, which KVM may not be able to referee here.
    var sensitive: SensitiveInstruction?
    /// The case's memory operand is a block (FNSAVE/FRSTOR, FNSTENV/FLDENV, FXSAVE/FXRSTOR) that may cross into an
    /// unmapped page. The SDM does not order the accesses to one operand's bytes, so which address a page fault
    /// reports in CR2 is the implementation's choice (this AMD host touches the last bytes first): CR2 is left out.
    var blockOperand = false
    /// The segment load the case makes (segment-loads group): KVM referees it only where SegmentLoadRefereeCheck
    /// found it answers from the guest's descriptor tables.
    var segmentLoad: SegmentLoad?
    /// The trap the SDM gives for this case, checked for the software CPU whether or not KVM referees the case.
    var manualTrap: ManualTrap?

    var hexBytes: String { code.map { hex($0, width: 2) }.joined(separator: " ") }
}

/// How a case ended: the trap the ring-0 code caught, with the user state it interrupted.
enum UserOutcome: Equatable {
    case trapped(Trap)
    /// Anything else (a triple fault, an emulation failure, a HLT outside the stubs).
    case failed(String)
}

struct Trap: Equatable {
    /// 0-255, or `Trap.syscall` when the case ended in SYSCALL.
    var vector: Int
    var errorCode: UInt64
    /// CR2, for a page fault only (it keeps its old value otherwise).
    var cr2: UInt64
    /// General-purpose registers; RIP, RFLAGS and RSP as the exception frame saved them (for SYSCALL: RIP 0,
    /// RFLAGS the masked flags ring 0 runs with; RCX and R11 hold the return address and the user's flags).
    var registers: Registers
    var codeSelector: UInt64
    var stackSelector: UInt64
    /// FNV-1a of every page the case may write (stack, data, no-execute page).
    var memoryHash: UInt64
    /// The FXSAVE area the floating-point groups end by writing (the first 160 bytes: control, status, tags,
    /// MXCSR and ST0-ST7), so a mismatch can name the bytes that differ. Not part of the fingerprint.
    var saveArea: [UInt8] = []

    static let syscall = 256
    /// Vectors whose frame carries an error code.
    static let errorCodeVectors: Set<Int> = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]
    static let names = ["#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "9", "#TS", "#NP", "#SS", "#GP",
                        "#PF", "15", "#MF", "#AC", "#MC", "#XM"]

    var summary: String {
        let name = vector == Self.syscall ? "syscall" : vector < Self.names.count ? Self.names[vector] : "int \(hex(vector))"
        var text = "\(name)"
        if Self.errorCodeVectors.contains(vector) { text += "(\(hex(errorCode)))" }
        if vector == 14 { text += " cr2 \(hex(cr2))" }
        return text + " at rip \(hex(registers.rip))"
    }
}

extension UserOutcome {
    /// Every difference between KVM's outcome (`self`) and the soft CPU's, with undefined flags masked; nil if equal.
    func difference(from actual: UserOutcome, undefinedFlags: UInt64, comparesCR2: Bool = true) -> String? {
        guard case .trapped(let kvm) = self, case .trapped(let soft) = actual else {
            return self == actual ? nil : "KVM: \(self.summary); soft: \(actual.summary)"
        }
        var differences: [String] = []
        if kvm.vector != soft.vector || kvm.errorCode != soft.errorCode || (comparesCR2 && kvm.cr2 != soft.cr2)
            || kvm.registers.rip != soft.registers.rip {
            differences.append("KVM \(kvm.summary), soft \(soft.summary)")
        }
        for index in 0..<16 where kvm.registers[index] != soft.registers[index] {
            differences.append("r\(index) KVM \(hex(kvm.registers[index])) soft \(hex(soft.registers[index]))")
        }
        let mask = Self.comparedFlags & ~undefinedFlags
        if kvm.registers.rflags & mask != soft.registers.rflags & mask {
            differences.append("rflags KVM \(hex(kvm.registers.rflags & mask)) soft \(hex(soft.registers.rflags & mask))")
        }
        if kvm.codeSelector != soft.codeSelector || kvm.stackSelector != soft.stackSelector {
            differences.append("cs:ss KVM \(hex(kvm.codeSelector)):\(hex(kvm.stackSelector)) "
                               + "soft \(hex(soft.codeSelector)):\(hex(soft.stackSelector))")
        }
        if kvm.memoryHash != soft.memoryHash {
            let offsets = zip(kvm.saveArea, soft.saveArea).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            differences.append(offsets.isEmpty ? "written memory differs"
                : "written memory differs; FXSAVE bytes " + offsets.map { "\($0): KVM \(hex(kvm.saveArea[$0])) soft \(hex(soft.saveArea[$0]))" }.joined(separator: ", "))
        }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }

    /// Every RFLAGS bit but RF (bit 16), which hardware sets in the frame of some faults as a debugging aid.
    static let comparedFlags: UInt64 = 0x003F_7FD7 & ~0x1_0000

    var summary: String {
        switch self {
        case .trapped(let trap): return trap.summary
        case .failed(let reason): return reason
        }
    }

    /// A 64-bit digest of everything `difference` compares, for the recorded expectations.
    func fingerprint(undefinedFlags: UInt64, comparesCR2: Bool = true) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) { hash = (hash ^ ((value >> UInt64(shift)) & 0xFF)) &* 0x100_0000_01B3 }
        }
        switch self {
        case .failed(let reason): for byte in reason.utf8 { mix(UInt64(byte)) }
        case .trapped(let trap):
            mix(UInt64(trap.vector)); mix(trap.errorCode); mix(comparesCR2 ? trap.cr2 : 0); mix(trap.memoryHash)
            mix(trap.codeSelector); mix(trap.stackSelector)
            for index in 0..<16 { mix(trap.registers[index]) }
            mix(trap.registers.rip)
            mix(trap.registers.rflags & Self.comparedFlags & ~undefinedFlags)
        }
        return hash
    }
}

func hex<T: BinaryInteger>(_ value: T, width: Int = 0) -> String {
    let digits = String(value, radix: 16)
    return (width > digits.count ? String(repeating: "0", count: width - digits.count) : "") + (width == 0 ? "0x" : "") + digits
}

/// A selector loaded into a segment register (0 ES, 2 SS, 3 DS, 4 FS, 5 GS).
struct SegmentLoad: Hashable {
    var selector: UInt16
    var register: Int
}

/// A trap derived from the manual rather than observed: the vector, error code and RIP the frame must hold.
struct ManualTrap: Equatable {
    var vector: Int
    var errorCode: UInt64
    var rip: UInt64

    /// The trap a case whose load starts at `loadAt` and whose code ends at `end` (the HLT: #GP(0)) takes.
    init(_ result: SegmentLoadRule.Result, loadAt: UInt64, end: UInt64) {
        switch result {
        case .loads: (vector, errorCode, rip) = (13, 0, end)
        case .fault(let vector, let errorCode): (self.vector, self.errorCode, rip) = (vector, errorCode, loadAt)
        }
    }

    init(vector: Int, errorCode: UInt64, rip: UInt64) { (self.vector, self.errorCode, self.rip) = (vector, errorCode, rip) }

    var summary: String {
        (vector < Trap.names.count ? Trap.names[vector] : "int \(vector)")
            + (Trap.errorCodeVectors.contains(vector) ? "(\(hex(errorCode)))" : "") + " at rip \(hex(rip))"
    }

    /// Nil when `outcome` is this trap.
    func difference(from outcome: UserOutcome) -> String? {
        guard case .trapped(let trap) = outcome else { return "the SDM: \(summary); got \(outcome.summary)" }
        if trap.vector == vector && trap.errorCode == errorCode && trap.registers.rip == rip { return nil }
        return "the SDM: \(summary); got \(trap.summary)"
    }
}
