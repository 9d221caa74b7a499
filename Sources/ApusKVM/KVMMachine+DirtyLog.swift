import CKVM

/// KVM's log of the pages the guest itself wrote (DirtyBitmap in ApusCore covers writes made by the VMM).
extension KVMMachine {
    /// Turns on dirty-page logging for every memory slot. Until then KVM_GET_DIRTY_LOG fails with ENOENT.
    public func enableDirtyLogging() throws {
        for slot in memory.regions.indices {
            try Self.registerSlot(slot, of: memory, vmFD: fd, flags: CKVM_MEM_LOG_DIRTY_PAGES)
        }
    }

    /// Page numbers (4 KiB, counted from the slot's start) the guest wrote in memory slot `slot` since the previous
    /// call; KVM clears its log as it hands it over.
    public func dirtyPages(slot: Int) throws -> [Int] {
        guard memory.regions.indices.contains(slot) else {
            throw KVMError.badArgument("memory slot \(slot) does not exist (the machine has \(memory.regions.count))")
        }
        let pages = Int(memory.regions[slot].range.size / 4096)
        // KVM writes the bitmap in 64-bit words.
        var bitmap = [UInt64](repeating: 0, count: (pages + 63) / 64)
        _ = try bitmap.withUnsafeMutableBytes { buffer in
            try checked("KVM_GET_DIRTY_LOG") { ckvm_get_dirty_log(fd, UInt32(slot), buffer.baseAddress) }
        }
        var dirty: [Int] = []
        for (word, bits) in bitmap.enumerated() where bits != 0 {
            for bit in 0..<64 where bits & (1 << UInt64(bit)) != 0 { dirty.append(word * 64 + bit) }
        }
        return dirty
    }
}
