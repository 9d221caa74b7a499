import ApusCore
import CGuestAtomics

/// Instructions that are atomic across vCPUs: LOCK-prefixed read-modify-writes, XCHG with memory (implicitly
/// locked), CMPXCHG8B/16B, and the page walk's Accessed/Dirty updates. Several vCPU threads share guest RAM, so these
/// are host atomics on the guest's bytes (CGuestAtomics), never a lock around the interpreter.
///
/// A locked read-modify-write runs as a compare-and-swap: `readForUpdate` loads the operand and remembers it
/// (`LockedOperand`); the instruction computes as usual; its store is a CMPXCHG of the loaded value for the new one.
/// If another vCPU changed the bytes in between (a locked op or a plain store: both make the compare fail), nothing
/// was stored and the instruction runs again from its registers and flags as they were before it — exactly one
/// atomic read-modify-write is ever seen by others. Operands that cross a page boundary or are not RAM (MMIO) are
/// not atomic (x86 split locks; Linux never issues them).
extension CPUCore {
    /// The RAM operand of the locked read-modify-write in progress.
    struct LockedOperand {
        var linear: UInt64
        var host: UnsafeMutableRawPointer
        var page: Int
        var size: Int
        var value: UInt64
    }

    /// Another vCPU changed a locked operand between its load and the store: the instruction runs again.
    struct LockedUpdateConflict: Error {}

    /// Runs a LOCK-prefixed (or XCHG-with-memory) instruction until its compare-and-swap succeeds. Before each
    /// attempt the general registers and flags are as they were at the start: an attempt may have set flags or a
    /// register (XADD) before its store failed.
    func executeLocked(_ decoded: Instruction,
                       _ execute: (inout Instruction) throws -> StepResult) throws -> StepResult {
        var registers: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &registers) { $0.baseAddress!.copyMemory(from: gpr, byteCount: 128) }
        let savedFlags = flagBits, savedLazy = lazy
        atomicUpdate = true
        defer {
            atomicUpdate = false
            lockedOperand = nil
        }
        while true {
            var i = decoded
            do {
                let result = try execute(&i)
                instructions &+= 1
                return result
            } catch is LockedUpdateConflict {
                withUnsafeBytes(of: &registers) { gpr.update(from: $0.bindMemory(to: UInt64.self).baseAddress!, count: 16) }
                flagBits = savedFlags
                lazy = savedLazy
                lockedOperand = nil
            }
        }
    }

    /// The load half of a locked read-modify-write of RAM at `physical` (already translated for writing).
    @inline(__always)
    func beginLockedUpdate(linear address: UInt64, physical: UInt64, size: Int) -> UInt64? {
        guard let (host, page) = ram.locate(physical, length: size) else { return nil }
        let value = loadHost(host, size: size)
        lockedOperand = LockedOperand(linear: address, host: host, page: page, size: size, value: value)
        return value
    }

    /// The store half: true when it was the locked operand's store (done atomically), false for any other store.
    /// Throws `LockedUpdateConflict` when the bytes changed since the load.
    func finishLockedUpdate(linear address: UInt64, size: Int, _ value: UInt64) throws -> Bool {
        guard let operand = lockedOperand, operand.linear == address, operand.size == size else { return false }
        lockedOperand = nil
        guard compareExchange(operand.host, size: size, expected: operand.value, desired: value) == operand.value else {
            throw LockedUpdateConflict()
        }
        stored(page: operand.page)
        return true
    }

    /// LOCK CMPXCHG on host bytes: returns what was there (equal to `expected` exactly when `desired` was stored).
    @inline(__always)
    func compareExchange(_ host: UnsafeMutableRawPointer, size: Int, expected: UInt64, desired: UInt64) -> UInt64 {
        switch size {
        case 1: return UInt64(guest_cmpxchg8(host, UInt8(truncatingIfNeeded: expected), UInt8(truncatingIfNeeded: desired)))
        case 2: return UInt64(guest_cmpxchg16(host, UInt16(truncatingIfNeeded: expected), UInt16(truncatingIfNeeded: desired)))
        case 4: return UInt64(guest_cmpxchg32(host, UInt32(truncatingIfNeeded: expected), UInt32(truncatingIfNeeded: desired)))
        default: return guest_cmpxchg64(host, expected, desired)
        }
    }

    /// MFENCE: no later load may pass an earlier store of this vCPU, which TSO otherwise allows.
    func fullFence() { guest_full_fence() }
}
