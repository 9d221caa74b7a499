import ApusCore

/// The decoding state of one instruction: prefixes, sizes and the fetch cursor.
struct Instruction {
    var start: UInt64
    /// Offset of the next byte to fetch, relative to CS (RIP-style).
    var ip: UInt64
    var operandSize: Int
    var addressSize: Int
    var rex: UInt8 = 0
    var segment: SegmentRegister?
    /// 0xF2 (REPNE) or 0xF3 (REP/REPE), or 0.
    var repeatPrefix: UInt8 = 0
    var operandSizePrefix = false
    /// Bytes fetched so far (at most 15: fetching a 16th is #GP, see `maximumInstructionLength`).
    var cursor = 0
    /// When `inline`, the instruction's first 16 bytes (from the decode cache, or copied when it was decoded), which
    /// fetches read instead of memory.
    var inline = false
    var low: UInt64 = 0
    var high: UInt64 = 0
    /// The decode-cache entry of this instruction, where decodeModRM keeps the operand's form.
    var entry: UnsafeMutablePointer<DecodeCache.Entry>?
    /// A LOCK prefix was seen (checked against the lockable forms when decoded), or the instruction is XCHG with
    /// memory, which is locked without one: it executes atomically (CPUCore+Atomics).
    var lock = false

    @inline(__always) var hasREX: Bool { rex != 0 }
    @inline(__always) var rexW: Bool { rex & 8 != 0 }
    @inline(__always) var rexR: Int { rex & 4 != 0 ? 8 : 0 }
    @inline(__always) var rexX: Int { rex & 2 != 0 ? 8 : 0 }
    @inline(__always) var rexB: Int { rex & 1 != 0 ? 8 : 0 }
}

/// A decoded ModRM operand: a register number, or a memory offset in a segment.
enum Operand {
    case register(Int)
    /// `ripRelative` offsets are relative to the end of the instruction, known only once it is fully fetched.
    case memory(SegmentRegister, UInt64, ripRelative: Bool)
}

/// A 32- or 64-bit ModRM operand as the bytes define it, before registers are read: what the decode cache keeps.
struct AddressForm {
    var modrm: UInt8
    /// Register numbers (with REX), -1 when absent.
    var base: Int8 = -1
    var index: Int8 = -1
    var scale: UInt8 = 0
    /// SS is the default segment (RBP or RSP as base).
    var stackSegment = false
    var ripRelative = false
    var displacement: UInt64 = 0

    init(modrm: UInt8) { self.modrm = modrm }
}

struct ModRM {
    var mod: Int
    var reg: Int
    var rm: Int
}

extension CPUCore {
    /// The next instruction pointer after `count` more bytes (IP and EIP wrap at their width).
    @inline(__always)
    func advanced(_ ip: UInt64, by count: Int) -> UInt64 {
        (ip &+ UInt64(truncatingIfNeeded: count)) & ipMask
    }

    /// `size` bytes at `offset` of an inline instruction (offset + size <= 16).
    @inline(__always)
    private func inlineBytes(_ i: Instruction, at offset: Int, size: Int) -> UInt64 {
        let value: UInt64
        if offset == 0 {
            value = i.low
        } else if offset < 8 {
            value = (i.low &>> UInt64(8 * offset)) | (i.high &<< UInt64(64 - 8 * offset))
        } else {
            value = i.high &>> UInt64(8 * (offset - 8))
        }
        return size == 8 ? value : value & ((1 &<< UInt64(8 * size)) &- 1)
    }

    /// The longest instruction x86 accepts; fetching a 16th byte is #GP(0) (this also bounds a run of prefixes).
    static let maximumInstructionLength = 15

    @inline(__always)
    func fetch8(_ i: inout Instruction) throws -> UInt64 {
        if i.inline && i.cursor < Self.maximumInstructionLength {
            let byte = inlineBytes(i, at: i.cursor, size: 1)
            i.cursor &+= 1
            i.ip = advanced(i.ip, by: 1)
            return byte
        }
        guard i.cursor < Self.maximumInstructionLength else { throw CPUFault.gp() }
        let address = linear(.cs, i.ip)
        let byte: UInt64
        if address >> 12 == fetchPage, let host = fetchHost {
            byte = UInt64(host.load(fromByteOffset: Int(address & 0xFFF), as: UInt8.self))
        } else {
            byte = try read(.cs, i.ip, size: 1, access: .fetch)
            cacheFetchPage(address)
        }
        i.cursor &+= 1
        i.ip = advanced(i.ip, by: 1)
        return byte
    }

    /// Remembers the host page behind `address` for the next fetches, when it is RAM (code in MMIO is fetched slowly).
    func cacheFetchPage(_ address: UInt64) {
        guard let physical = try? translate(address, access: .fetch),
              let (host, page) = ram.locate(physical & ~0xFFF, length: 0x1000) else {
            fetchPage = .max
            return
        }
        fetchPage = address >> 12
        fetchHost = host
        fetchPhysical = physical & ~0xFFF
        fetchRAMPage = page
    }

    func fetch(_ i: inout Instruction, size: Int) throws -> UInt64 {
        if i.inline && i.cursor + size <= Self.maximumInstructionLength {
            let value = inlineBytes(i, at: i.cursor, size: size)
            i.cursor &+= size
            i.ip = advanced(i.ip, by: size)
            return value
        }
        guard i.cursor + size <= Self.maximumInstructionLength else { throw CPUFault.gp() }
        let address = linear(.cs, i.ip)
        if is64BitCode, address >> 12 == fetchPage, address & 0xFFF <= 0x1000 - 8, let host = fetchHost {
            // The immediate lies in the cached code page: one 8-byte load (never past the page) instead of `size`
            // fetches.
            let raw = host.loadUnaligned(fromByteOffset: Int(address & 0xFFF), as: UInt64.self)
            i.ip &+= UInt64(size)
            i.cursor &+= size
            return size == 8 ? UInt64(littleEndian: raw) : UInt64(littleEndian: raw) & Flag.mask(size)
        }
        var value: UInt64 = 0
        for index in 0..<size { value |= try fetch8(&i) << (8 * UInt64(index)) }
        return value
    }

    /// An immediate of `size` bytes (at most 4, sign-extended to 64 bits when the operand is 8 bytes).
    func immediate(_ i: inout Instruction, size: Int) throws -> UInt64 {
        let raw = try fetch(&i, size: min(size, 4))
        return size == 8 ? signExtend(raw, from: 4) : raw
    }

    /// Reads prefixes and returns the first opcode byte. A REX prefix counts only when the opcode follows it
    /// directly; a legacy prefix after it cancels it.
    func decodePrefixes(_ i: inout Instruction) throws -> UInt64 {
        while true {
            let byte = try fetch8(&i)
            switch byte {
            case 0x66: i.operandSizePrefix = true; i.operandSize = defaultSize == 2 ? 4 : 2
            case 0x67: i.addressSize = is64BitCode ? 4 : (defaultSize == 2 ? 4 : 2)
            case 0xF2, 0xF3: i.repeatPrefix = UInt8(byte)
            case 0xF0: i.lock = true
            case 0x26: i.segment = .es
            case 0x2E: i.segment = .cs
            case 0x36: i.segment = .ss
            case 0x3E: i.segment = .ds
            case 0x64: i.segment = .fs
            case 0x65: i.segment = .gs
            case 0x40...0x4F where is64BitCode:
                i.rex = UInt8(byte)
                continue
            default:
                if i.rexW { i.operandSize = 8 }
                return byte
            }
            i.rex = 0
        }
    }

    /// ModRM, SIB and displacement. With a decode-cache entry, the first decode of the instruction stores the
    /// operand's form there (registers, scale, displacement), and later runs compute the address from it directly.
    @inline(__always)
    func decodeModRM(_ i: inout Instruction) throws -> (ModRM, Operand) {
        if let entry = i.entry, entry.pointee.formAt == UInt8(truncatingIfNeeded: i.cursor &+ 1) {
            let end = Int(entry.pointee.formEnd)
            i.ip = advanced(i.ip, by: end &- i.cursor)
            i.cursor = end
            return evaluate(entry.pointee.form, &i)
        }
        return try decodeModRMFromBytes(&i)
    }

    /// ModRM of an instruction whose operand is always a register, whatever the mod field says (MOV to and from
    /// control and debug registers, SDM Vol. 2): no SIB or displacement follows. Returns reg and rm with REX.
    func decodeRegisterForm(_ i: inout Instruction) throws -> (reg: Int, rm: Int) {
        let byte = Int(try fetch8(&i))
        return ((byte >> 3) & 7 | i.rexR, byte & 7 | i.rexB)
    }

    private func decodeModRMFromBytes(_ i: inout Instruction) throws -> (ModRM, Operand) {
        let start = i.cursor
        let byte = UInt8(truncatingIfNeeded: try fetch8(&i))
        var form = AddressForm(modrm: byte)
        if byte >> 6 != 3 {
            if i.addressSize == 2 {
                let modrm = ModRM(mod: Int(byte >> 6), reg: Int((byte >> 3) & 7) | i.rexR, rm: Int(byte & 7))
                return (modrm, try decode16(modrm, &i))   // 16-bit forms are decoded each time
            }
            try decodeAddress(&form, &i)
        }
        if let entry = i.entry, start < 0xFF, i.cursor <= 16 {
            entry.pointee.form = form
            entry.pointee.formAt = UInt8(start + 1)
            entry.pointee.formEnd = UInt8(i.cursor)
        }
        return evaluate(form, &i)
    }

    /// The operand a 32- or 64-bit addressing form names with the registers as they are now.
    @inline(__always)
    private func evaluate(_ form: AddressForm, _ i: inout Instruction) -> (ModRM, Operand) {
        let byte = Int(form.modrm)
        let modrm = ModRM(mod: byte >> 6, reg: (byte >> 3) & 7 | i.rexR, rm: byte & 7)
        if modrm.mod == 3 { return (modrm, .register(modrm.rm | i.rexB)) }
        var offset = form.displacement
        if form.base >= 0 { offset &+= gpr[Int(form.base)] }
        if form.index >= 0 { offset &+= gpr[Int(form.index)] &<< UInt64(form.scale) }
        if i.addressSize == 4 { offset &= 0xFFFF_FFFF }
        let segment = i.segment ?? (form.stackSegment ? .ss : .ds)
        return (modrm, .memory(segment, offset, ripRelative: form.ripRelative))
    }

    /// Fills in the registers, scale and displacement of a 32- or 64-bit memory form (ModRM.mod != 3).
    private func decodeAddress(_ form: inout AddressForm, _ i: inout Instruction) throws {
        let mod = form.modrm >> 6, rm = Int(form.modrm & 7)
        if rm == 4 {
            let sib = Int(try fetch8(&i))
            let scale = sib >> 6, index = (sib >> 3) & 7 | i.rexX, base = sib & 7
            if index != 4 {
                form.index = Int8(index)
                form.scale = UInt8(scale)
            }
            if base == 5 && mod == 0 {
                form.displacement = signExtend(try fetch(&i, size: 4), from: 4)
            } else {
                form.base = Int8(base | i.rexB)
                form.stackSegment = base | i.rexB == 4 || base | i.rexB == 5   // RSP, RBP; not R12, R13
            }
        } else if rm == 5 && mod == 0 {
            form.displacement = signExtend(try fetch(&i, size: 4), from: 4)
            form.ripRelative = is64BitCode
        } else {
            form.base = Int8(rm | i.rexB)
            form.stackSegment = rm | i.rexB == 5
        }
        if mod == 1 { form.displacement &+= signExtend(try fetch8(&i), from: 1) }
        if mod == 2 { form.displacement &+= signExtend(try fetch(&i, size: 4), from: 4) }
    }

    private func decode16(_ modrm: ModRM, _ i: inout Instruction) throws -> Operand {
        let bx = gpr[3] & 0xFFFF, bp = gpr[5] & 0xFFFF, si = gpr[6] & 0xFFFF, di = gpr[7] & 0xFFFF
        var offset: UInt64
        var segment = SegmentRegister.ds
        switch modrm.rm {
        case 0: offset = bx &+ si
        case 1: offset = bx &+ di
        case 2: offset = bp &+ si; segment = .ss
        case 3: offset = bp &+ di; segment = .ss
        case 4: offset = si
        case 5: offset = di
        case 6:
            if modrm.mod == 0 { offset = try fetch(&i, size: 2) } else { offset = bp; segment = .ss }
        default: offset = bx
        }
        if modrm.mod == 1 { offset &+= signExtend(try fetch8(&i), from: 1) }
        if modrm.mod == 2 { offset &+= try fetch(&i, size: 2) }
        return .memory(i.segment ?? segment, offset & 0xFFFF, ripRelative: false)
    }

    // MARK: Operands

    @inline(__always)
    func read(_ operand: Operand, size: Int, _ i: Instruction) throws -> UInt64 {
        switch operand {
        case .register(let index): return register(index, size: size, rex: i.hasREX)
        case .memory(let segment, let offset, let ripRelative):
            return try read(segment, ripRelative ? ripRelativeOffset(offset, i) : offset, size: size)
        }
    }

    /// The read of a read-modify-write: write access is checked first, as hardware does, so a read-only or absent
    /// page faults as a write, and before anything (flags included) has changed.
    /// Inlined, and the memory half takes no Instruction, so a call copies nothing (a register operand is common).
    @inline(__always)
    func readForUpdate(_ operand: Operand, size: Int, _ i: Instruction) throws -> UInt64 {
        switch operand {
        case .register(let index): return register(index, size: size, rex: i.hasREX)
        case .memory(let segment, let offset, let ripRelative):
            return try readForUpdate(segment, ripRelative ? ripRelativeOffset(offset, i) : offset, size: size)
        }
    }

    func readForUpdate(_ segment: SegmentRegister, _ offset: UInt64, size: Int) throws -> UInt64 {
        let address = linear(segment, offset)
        try checkCanonical(address, segment)
        let physical = try translate(address, access: .write)
        if (address & 0xFFF) + UInt64(size) > 0x1000 {
            _ = try translate((address | 0xFFF) &+ 1, access: .write)
        } else if atomicUpdate, let value = beginLockedUpdate(linear: address, physical: physical, size: size) {
            return value   // LOCK: the store that follows is a compare-and-swap (CPUCore+Atomics)
        }
        return try read(segment, offset, size: size)
    }

    @inline(__always)
    func write(_ operand: Operand, size: Int, _ value: UInt64, _ i: Instruction) throws {
        switch operand {
        case .register(let index): setRegister(index, size: size, value, rex: i.hasREX)
        case .memory(let segment, let offset, let ripRelative):
            try write(segment, ripRelative ? ripRelativeOffset(offset, i) : offset, size: size, value)
        }
    }

    /// The offset a memory operand names (LEA, LGDT).
    @inline(__always)
    func effectiveOffset(_ operand: Operand, _ i: Instruction) throws -> (SegmentRegister, UInt64) {
        guard case .memory(let segment, let offset, let ripRelative) = operand else { throw CPUFault.ud }
        return (segment, ripRelative ? ripRelativeOffset(offset, i) : offset)
    }
}

/// RIP + displacement, known only once the whole instruction is decoded; with a 67h prefix the address is 32 bits
/// (SDM Vol. 1, 3.5.1.1: the sum is truncated).
@inline(__always)
func ripRelativeOffset(_ displacement: UInt64, _ i: Instruction) -> UInt64 {
    let address = displacement &+ i.ip
    return i.addressSize == 4 ? address & 0xFFFF_FFFF : address
}

@inline(__always)
func signExtend(_ value: UInt64, from size: Int) -> UInt64 {
    let shift = UInt64(64 - size * 8)
    return UInt64(bitPattern: Int64(bitPattern: value << shift) >> Int64(shift))
}
