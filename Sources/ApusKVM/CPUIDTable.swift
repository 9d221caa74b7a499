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
