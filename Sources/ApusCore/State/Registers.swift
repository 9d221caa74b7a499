/// The general-purpose registers, instruction pointer and flags of one x86-64 vCPU.
public struct Registers: Equatable, Sendable, Codable {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0
    /// Bit 1 is reserved and always set on hardware.
    public var rflags: UInt64 = 0x2

    public init() {}

    /// Register by its x86 encoding number (0 = RAX … 15 = R15).
    public subscript(index: Int) -> UInt64 {
        get {
            switch index {
            case 0: return rax
            case 1: return rcx
            case 2: return rdx
            case 3: return rbx
            case 4: return rsp
            case 5: return rbp
            case 6: return rsi
            case 7: return rdi
            case 8: return r8
            case 9: return r9
            case 10: return r10
            case 11: return r11
            case 12: return r12
            case 13: return r13
            case 14: return r14
            default: return r15
            }
        }
        set {
            switch index {
            case 0: rax = newValue
            case 1: rcx = newValue
            case 2: rdx = newValue
            case 3: rbx = newValue
            case 4: rsp = newValue
            case 5: rbp = newValue
            case 6: rsi = newValue
            case 7: rdi = newValue
            case 8: r8 = newValue
            case 9: r9 = newValue
            case 10: r10 = newValue
            case 11: r11 = newValue
            case 12: r12 = newValue
            case 13: r13 = newValue
            case 14: r14 = newValue
            default: r15 = newValue
            }
        }
    }
}
