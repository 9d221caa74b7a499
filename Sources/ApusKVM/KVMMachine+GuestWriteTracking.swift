public import ApusCore

/// Dirty-page tracking on KVM: its dirty log, slot by slot (KVM_GET_DIRTY_LOG hands a slot's bitmap over and
/// write-protects those pages again in one step, so a store racing with the take is in this take or the next).
extension KVMMachine: GuestWriteTracking {
    public var guestWriteTracking: (any GuestWriteTracking)? { self }

    public func startTrackingGuestWrites() throws {
        try dirtyLogging.withLock { logging in
            if !logging {
                try enableDirtyLogging()
                logging = true
            }
            // Empty the log: whatever it holds predates this start.
            for slot in memory.regions.indices { _ = try dirtyPages(slot: slot) }
        }
    }

    public func takeGuestWrittenPages() throws -> [UInt64] {
        try dirtyLogging.withLock { logging in
            guard logging else { throw KVMError.badArgument("dirty-page tracking was not started on this machine") }
            var pages: [UInt64] = []
            // Slots are the regions in address order, so the pages come out ascending.
            for (slot, region) in memory.regions.enumerated() {
                let first = region.range.start.rawValue >> 12
                pages += try dirtyPages(slot: slot).map { first + UInt64($0) }
            }
            return pages
        }
    }

    public func stopTrackingGuestWrites() throws {
        try dirtyLogging.withLock { logging in
            guard logging else { return }
            for slot in memory.regions.indices { try Self.registerSlot(slot, of: memory, vmFD: fd, flags: 0) }
            logging = false
        }
    }
}
