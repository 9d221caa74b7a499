import ApusCore
import CGuestAtomics

/// Guest memory as the CPU sees it: linear addresses through the page tables (the guest's stage of the two-stage
/// map) to guest-physical addresses, then RAM or an MMIO exit (the VMM's stage).
extension CPUCore {
    enum Access { case read, write, fetch }

    // MARK: Linear addresses

    /// Segment base + offset; in 64-bit code only FS and GS have a base.
    @inline(__always)
    func linear(_ segment: SegmentRegister, _ offset: UInt64) -> UInt64 {
        if is64BitCode {
            switch segment {
            case .fs: return sregs.fs.base &+ offset
            case .gs: return sregs.gs.base &+ offset
            default: return offset
            }
        }
        return (self[segment].base &+ offset) & 0xFFFF_FFFF
    }

    func read(_ segment: SegmentRegister, _ offset: UInt64, size: Int, access: Access = .read) throws -> UInt64 {
        let address = linear(segment, offset)
        try checkCanonical(address, segment)
        return try readLinear(address, size: size, access: access)
    }

    func write(_ segment: SegmentRegister, _ offset: UInt64, size: Int, _ value: UInt64) throws {
        let address = linear(segment, offset)
        try checkCanonical(address, segment)
        if lockedOperand != nil, try finishLockedUpdate(linear: address, size: size, value) { return }
        try writeLinear(address, size: size, value)
    }

    /// In 64-bit mode a non-canonical address faults before paging: #SS(0) through SS, #GP(0) otherwise.
    @inline(__always)
    func checkCanonical(_ address: UInt64, _ segment: SegmentRegister) throws {
        guard is64BitCode, !isCanonical(address) else { return }
        throw segment == .ss ? CPUFault(vector: .stackFault, errorCode: 0) : CPUFault.gp()
    }

    @inline(__always)
    func isCanonical(_ address: UInt64) -> Bool { (address &+ 0x8000_0000_0000) >> 48 == 0 }

    func readLinear(_ address: UInt64, size: Int, access: Access = .read) throws -> UInt64 {
        if (address & 0xFFF) + UInt64(size) <= 0x1000,
           let host = tlb.host(address, kind: access == .read ? 0 : 2, user: cpl == 3) {
            return loadHost(host, size: size)
        }
        if (address & 0xFFF) + UInt64(size) > 0x1000 {
            var value: UInt64 = 0
            for i in 0..<size {
                value |= try readLinear(address &+ UInt64(i), size: 1, access: access) << (8 * UInt64(i))
            }
            return value
        }
        return try readPhysical(try translate(address, access: access), size: size)
    }

    func writeLinear(_ address: UInt64, size: Int, _ value: UInt64) throws {
        if (address & 0xFFF) + UInt64(size) <= 0x1000, let (host, page) = tlb.writeHost(address, user: cpl == 3) {
            storeHost(host, size: size, value)
            stored(page: page)
            return
        }
        if (address & 0xFFF) + UInt64(size) > 0x1000 {
            // Translate every page first so a fault on the second page leaves memory untouched (precise faults).
            // CR2 names the first byte of the page that faults, as on hardware.
            for page in [address, (address | 0xFFF) &+ 1] { _ = try translate(page, access: .write) }
            for i in 0..<size {
                try writeLinear(address &+ UInt64(i), size: 1, (value >> (8 * UInt64(i))) & 0xFF)
            }
            return
        }
        try writePhysical(try translate(address, access: .write), size: size, value)
    }

    // MARK: Paging

    /// A read of a system structure (GDT, IDT, TSS): an implicit supervisor access, allowed on supervisor pages even
    /// when CPL is 3 (SDM Vol. 3, 4.6), as when an exception from user code reads the IDT.
    func readSystem(_ address: UInt64, size: Int) throws -> UInt64 {
        guard (address & 0xFFF) + UInt64(size) <= 0x1000 else {
            var value: UInt64 = 0
            for i in 0..<size { value |= try readSystem(address &+ UInt64(i), size: 1) << (8 * UInt64(i)) }
            return value
        }
        return try readPhysical(try translate(address, access: .read, supervisor: true), size: size)
    }

    /// Walks the guest's 4-level page tables (long mode or PAE with CR0.PG), setting Accessed and Dirty bits and
    /// raising #PF with the SDM's error code on a violation.
    func translate(_ address: UInt64, access: Access, supervisor: Bool = false) throws -> UInt64 {
        let user = cpl == 3 && !supervisor
        let kind = access == .read ? 0 : access == .write ? 1 : 2
        if let physical = tlb.lookup(address, kind: kind, user: user) { return physical }
        let physical: UInt64
        // Besides the table asked for, a walk also fills the read table (any page that passed the walk is readable)
        // and the write table when a store would need nothing more (writable, Dirty already set): a read-modify-write
        // of a new page then walks once, not twice.
        var alsoReadable = false, alsoWritable = false
        if sregs.cr0 & ControlRegister.cr0PG == 0 {
            physical = address & (longMode ? .max : 0xFFFF_FFFF)
        } else {
            guard longMode else { throw CPUFault.gp() }   // 32-bit paging is not modelled yet: refuse, precisely
            var writableAndDirty = false
            physical = try walk(address, access: access, user: user, writableAndDirty: &writableAndDirty)
            alsoReadable = kind != 0
            alsoWritable = kind != 1 && writableAndDirty
        }
        let page = ram.locate(physical & ~0xFFF, length: 0x1000)
        tlb.insert(address, physical: physical, ram: page, kind: kind, user: user)
        if alsoReadable { tlb.insert(address, physical: physical, ram: page, kind: 0, user: user) }
        if alsoWritable { tlb.insert(address, physical: physical, ram: page, kind: 1, user: user) }
        return physical
    }

    /// `writableAndDirty`: whether a store by the same privilege could use the translation without another walk.
    private func walk(_ address: UInt64, access: Access, user: Bool, writableAndDirty: inout Bool) throws -> UInt64 {
        let write = access == .write
        var table = sregs.cr3 & 0x000F_FFFF_FFFF_F000
        var writable = true, userAllowed = true, executable = true
        for level in stride(from: 3, through: 0, by: -1) {
            let index = (address >> (12 + 9 * UInt64(level))) & 0x1FF
            let entryAddress = table + index * 8
            var entry = try readPhysical(entryAddress, size: 8)
            func fault(present: Bool) -> CPUFault {
                var code: UInt32 = present ? 1 : 0
                if write { code |= 2 }
                if user { code |= 4 }
                if access == .fetch { code |= 0x10 }
                return CPUFault(vector: .pageFault, errorCode: code, address: address)
            }
            guard entry & 1 != 0 else { throw fault(present: false) }
            writable = writable && entry & 2 != 0
            userAllowed = userAllowed && entry & 4 != 0
            if sregs.efer & ControlRegister.eferNXE != 0 && entry & (1 << 63) != 0 { executable = false }
            let leaf = level == 0 || (level <= 2 && entry & 0x80 != 0)
            if leaf {
                if user && !userAllowed { throw fault(present: true) }
                if write && !writable && (user || sregs.cr0 & ControlRegister.cr0WP != 0) { throw fault(present: true) }
                if access == .fetch && !executable { throw fault(present: true) }
            }
            let updated = entry | 0x20 | (leaf && write ? 0x40 : 0)
            if updated != entry {
                // Hardware sets Accessed/Dirty with a locked operation: another vCPU may be changing the entry (Linux
                // clears PTEs with XCHG), so a plain store could bring back an entry it just removed.
                if let (host, page) = ram.locate(entryAddress, length: 8) {
                    guard compareExchange(host, size: 8, expected: entry, desired: updated) == entry else {
                        return try walk(address, access: access, user: user, writableAndDirty: &writableAndDirty)
                    }
                    stored(page: page)
                } else {
                    try writePhysical(entryAddress, size: 8, updated)
                }
                entry = updated
            }
            if leaf {
                writableAndDirty = entry & 0x40 != 0 && (writable || (!user && sregs.cr0 & ControlRegister.cr0WP == 0))
                let pageBits = 12 + 9 * UInt64(level)
                let frame = entry & 0x000F_FFFF_FFFF_F000 & ~((UInt64(1) << pageBits) - 1)
                return frame | (address & ((UInt64(1) << pageBits) - 1))
            }
            table = entry & 0x000F_FFFF_FFFF_F000
        }
        return address
    }

    // MARK: Physical memory

    @inline(__always)
    func readPhysical(_ address: UInt64, size: Int) throws -> UInt64 {
        if let (host, _) = ram.locate(address, length: size) {
            return loadHost(host, size: size)
        }
        if let value = apicPageRead(address, size: size) { return value }
        return try deviceRead(isPort: false, address: address, size: size)
    }

    /// After this vCPU stored to RAM page `page` (the bytes in place): every vCPU's decoded code from the page is
    /// dropped — after the store, so no vCPU can decode the old bytes under the new generation — and the page is
    /// marked for dirty-page tracking.
    @inline(__always)
    func stored(page: Int) {
        decoded.codeWritten(page: page)
        writtenPages.mark(page)
    }

    @inline(__always)
    func writePhysical(_ address: UInt64, size: Int, _ value: UInt64) throws {
        if let (host, page) = ram.locate(address, length: size) {
            storeHost(host, size: size, value)
            stored(page: page)
            return
        }
        if apicPageWrite(address, size: size, value) { return }
        try deviceWrite(isPort: false, address: address, size: size, value)
    }

    /// Guest loads and stores through host pointers: acquire loads and release stores (CGuestAtomics), so the
    /// optimiser keeps them in program order except a load passing an earlier store, which is x86-TSO; the host's
    /// hardware is TSO itself, and each access is one MOV (single-copy atomic when aligned). The host is x86-64,
    /// little-endian like the guest.
    @inline(__always)
    func loadHost(_ pointer: UnsafeMutableRawPointer, size: Int) -> UInt64 {
        switch size {
        case 1: return UInt64(guest_load8(pointer))
        case 2: return UInt64(guest_load16(pointer))
        case 4: return UInt64(guest_load32(pointer))
        default: return guest_load64(pointer)
        }
    }

    @inline(__always)
    func storeHost(_ pointer: UnsafeMutableRawPointer, size: Int, _ value: UInt64) {
        switch size {
        case 1: guest_store8(pointer, UInt8(truncatingIfNeeded: value))
        case 2: guest_store16(pointer, UInt16(truncatingIfNeeded: value))
        case 4: guest_store32(pointer, UInt32(truncatingIfNeeded: value))
        default: guest_store64(pointer, value)
        }
    }

    /// A read the VMM must answer: the value it gave for exactly this access, or an exit asking for it.
    func deviceRead(isPort: Bool, address: UInt64, size: Int) throws -> UInt64 {
        if let supplied = suppliedRead, supplied.isPort == isPort, supplied.address == address, supplied.size == size {
            suppliedRead = nil
            return supplied.value
        }
        awaitedRead = (isPort, address, size)
        throw ExitRequest.pendingRead
    }

    /// A write for the VMM, reported when the instruction completes. One per instruction is all x86 needs here.
    func deviceWrite(isPort: Bool, address: UInt64, size: Int, _ value: UInt64) throws {
        guard pendingWrite == nil else { throw CPUFault.gp() }
        pendingWrite = (isPort, address, size, value & Flag.mask(size))
    }
}

enum SegmentRegister: Int {
    case es = 0, cs, ss, ds, fs, gs
}

extension CPUCore {
    subscript(segment: SegmentRegister) -> Segment {
        get {
            switch segment {
            case .es: return sregs.es
            case .cs: return sregs.cs
            case .ss: return sregs.ss
            case .ds: return sregs.ds
            case .fs: return sregs.fs
            case .gs: return sregs.gs
            }
        }
        set {
            switch segment {
            case .es: sregs.es = newValue
            case .cs: sregs.cs = newValue
            case .ss: sregs.ss = newValue
            case .ds: sregs.ds = newValue
            case .fs: sregs.fs = newValue
            case .gs: sregs.gs = newValue
            }
        }
    }
}
