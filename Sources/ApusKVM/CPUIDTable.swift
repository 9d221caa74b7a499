import ApusCore
import CKVM

/// A `kvm_cpuid2` with its flexible array of entries, owned and freed by this object.
public final class CPUIDTable: @unchecked Sendable {
    // @unchecked: the table is filled once, then only read (and passed to KVM_SET_CPUID2).
    let table: UnsafeMutablePointer<kvm_cpuid2>

    init(owning table: UnsafeMutablePointer<kvm_cpuid2>) { self.table = table }
    deinit { ckvm_free(table) }

    public var count: Int { Int(table.pointee.nent) }

    /// Leaf `function` / `index`, as (eax, ebx, ecx, edx).
    public func leaf(_ function: UInt32, index: UInt32 = 0) -> (UInt32, UInt32, UInt32, UInt32)? {
        for i in 0..<table.pointee.nent {
            let entry = ckvm_cpuid2_entry(table, i)!.pointee
            if entry.function == function && entry.index == index {
                return (entry.eax, entry.ebx, entry.ecx, entry.edx)
            }
        }
        return nil
    }

    /// Changes registers of every entry with leaf `function`: the one place Apus edits what the guest sees.
    func modify(_ function: UInt32, _ body: (inout kvm_cpuid_entry2) -> Void) {
        for i in 0..<table.pointee.nent {
            guard let entry = ckvm_cpuid2_entry(table, i), entry.pointee.function == function else { continue }
            body(&entry.pointee)
        }
    }
}

extension CPUIDTable {
    /// A copy to edit for one vCPU; the machine's table stays as KVM supplied and `KVMMachine.filter` edited it.
    func copy() -> CPUIDTable {
        let count = table.pointee.nent
        let copy = ckvm_cpuid2_alloc(count)!
        for i in 0..<count { ckvm_cpuid2_entry(copy, i)!.pointee = ckvm_cpuid2_entry(table, i)!.pointee }
        return CPUIDTable(owning: copy)
    }

    /// Every entry's registers with `topology`'s fields set.
    func place(_ topology: CPUTopology) {
        for i in 0..<table.pointee.nent {
            let entry = ckvm_cpuid2_entry(table, i)!
            let e = entry.pointee
            (entry.pointee.eax, entry.pointee.ebx, entry.pointee.ecx, entry.pointee.edx) =
                topology.apply(leaf: e.function, subleaf: e.index, (e.eax, e.ebx, e.ecx, e.edx))
        }
    }
}
