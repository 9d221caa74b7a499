import ApusCore

/// INS and OUTS: string transfers between memory and an I/O port. Each device access is an exit of its own, so a
/// REP form does one port access per step and leaves RIP on the instruction until RCX reaches zero; RDI/RSI/RCX are
/// committed per element, which makes the instruction restart exactly where it stopped.
extension CPUCore {
    /// Returns false when a REP form stopped after one element and must be stepped again.
    func portString(_ i: inout Instruction, _ op: Int) throws -> Bool {
        let width = op & 1 == 0 ? 1 : min(i.operandSize, 4)
        let port = gpr[2] & 0xFFFF
        try checkIOPermission(port: port, size: width)
        let repeated = i.repeatPrefix != 0
        let counter = i.addressSize
        if repeated && register(1, size: counter) == 0 { return true }
        let addressMask = Flag.mask(i.addressSize)
        let step = flag(Flag.df) ? UInt64(0) &- UInt64(width) : UInt64(width)
        if op <= 0x6D {
            // INS: make sure ES:RDI takes the store before the port is read, so a page fault cannot swallow input.
            let di = gpr[7] & addressMask
            let destination = linear(.es, di)
            try checkCanonical(destination, .es)
            _ = try translate(destination, access: .write)
            _ = try translate(destination &+ UInt64(width - 1), access: .write)
            let value = try deviceRead(isPort: true, address: port, size: width)
            try write(.es, di, size: width, value)
            setRegister(7, size: i.addressSize, di &+ step)
        } else {
            let si = gpr[6] & addressMask
            let value = try read(i.segment ?? .ds, si, size: width)
            try deviceWrite(isPort: true, address: port, size: width, value)
            setRegister(6, size: i.addressSize, si &+ step)
        }
        guard repeated else { return true }
        let remaining = (register(1, size: counter) &- 1) & Flag.mask(counter)
        setRegister(1, size: counter, remaining)
        return remaining == 0
    }
}
