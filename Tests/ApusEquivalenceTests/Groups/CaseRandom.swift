import ApusCore
import ApusTesting

/// Random choices shared by the case generators.
extension SplitMix64 {
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// Every GPR but RSP, which the runner owns.
    mutating func register(excluding excluded: Set<Int> = []) -> Int {
        pick((0..<16).filter { $0 != 4 && !excluded.contains($0) })
    }

    /// Register values that hit the edges (0, all ones, sign boundaries) as often as random ones.
    mutating func value() -> UInt64 {
        pick([0, 1, .max, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
              next(), next(), next() & 0xFF, next() & 0xFFFF_FFFF])
    }

    /// Random GPRs and arithmetic flags (and DF), with IF set and IOPL 0: the only user-mode IF and IOPL this host's
    /// KVM runs ring 3 with (it enters user code with IF=1 and IOPL=0 whatever the IRETQ frame asks for).
    mutating func registers() -> Registers {
        var registers = Registers()
        for index in 0..<16 where index != 4 { registers[index] = value() }
        registers.rflags = 0x202 | (next() & 0xCD5)   // CF PF AF ZF SF DF OF
        return registers
    }
}
