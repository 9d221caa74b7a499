public import ApusCore
import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// Architectural state in and out of KVM, converted to ApusCore's backend-neutral types.
extension KVMVCPU {
    public func registers() throws -> Registers {
        var raw = kvm_regs()
        _ = try checked("KVM_GET_REGS") { ckvm_get_regs(fd, &raw) }
        var r = Registers()
        r.rax = raw.rax; r.rbx = raw.rbx; r.rcx = raw.rcx; r.rdx = raw.rdx
        r.rsi = raw.rsi; r.rdi = raw.rdi; r.rsp = raw.rsp; r.rbp = raw.rbp
        r.r8 = raw.r8; r.r9 = raw.r9; r.r10 = raw.r10; r.r11 = raw.r11
        r.r12 = raw.r12; r.r13 = raw.r13; r.r14 = raw.r14; r.r15 = raw.r15
        r.rip = raw.rip; r.rflags = raw.rflags
        return r
    }

    public func setRegisters(_ r: Registers) throws {
        var raw = kvm_regs(rax: r.rax, rbx: r.rbx, rcx: r.rcx, rdx: r.rdx, rsi: r.rsi, rdi: r.rdi, rsp: r.rsp,
                           rbp: r.rbp, r8: r.r8, r9: r.r9, r10: r.r10, r11: r.r11, r12: r.r12, r13: r.r13,
                           r14: r.r14, r15: r.r15, rip: r.rip, rflags: r.rflags)
        _ = try checked("KVM_SET_REGS") { ckvm_set_regs(fd, &raw) }
    }

    public func specialRegisters() throws -> SpecialRegisters {
        var raw = kvm_sregs()
        _ = try checked("KVM_GET_SREGS") { ckvm_get_sregs(fd, &raw) }
        var s = SpecialRegisters()
        s.cs = Segment(raw.cs); s.ds = Segment(raw.ds); s.es = Segment(raw.es); s.fs = Segment(raw.fs)
        s.gs = Segment(raw.gs); s.ss = Segment(raw.ss); s.tr = Segment(raw.tr); s.ldt = Segment(raw.ldt)
        s.gdt = DescriptorTable(base: raw.gdt.base, limit: raw.gdt.limit)
        s.idt = DescriptorTable(base: raw.idt.base, limit: raw.idt.limit)
        s.cr0 = raw.cr0; s.cr2 = raw.cr2; s.cr3 = raw.cr3; s.cr4 = raw.cr4; s.cr8 = raw.cr8
        s.efer = raw.efer; s.apicBase = raw.apic_base
        return s
    }

    public func setSpecialRegisters(_ s: SpecialRegisters) throws {
        var raw = kvm_sregs()
        // Start from KVM's values so fields Apus does not model (the interrupt bitmap) stay consistent.
        _ = try checked("KVM_GET_SREGS") { ckvm_get_sregs(fd, &raw) }
        raw.cs = kvm_segment(s.cs); raw.ds = kvm_segment(s.ds); raw.es = kvm_segment(s.es)
        raw.fs = kvm_segment(s.fs); raw.gs = kvm_segment(s.gs); raw.ss = kvm_segment(s.ss)
        raw.tr = kvm_segment(s.tr); raw.ldt = kvm_segment(s.ldt)
        raw.gdt.base = s.gdt.base; raw.gdt.limit = s.gdt.limit
        raw.idt.base = s.idt.base; raw.idt.limit = s.idt.limit
        raw.cr0 = s.cr0; raw.cr2 = s.cr2; raw.cr3 = s.cr3; raw.cr4 = s.cr4; raw.cr8 = s.cr8
        raw.efer = s.efer; raw.apic_base = s.apicBase
        _ = try checked("KVM_SET_SREGS") { ckvm_set_sregs(fd, &raw) }
    }

    /// Reads each MSR on its own, so one the host refuses is left out instead of failing the rest.
    public func msrs(_ indices: [UInt32]) throws -> [UInt32: UInt64] {
        guard let buffer = ckvm_msrs_alloc(1) else { throw KVMError.ioctl(name: "KVM_GET_MSRS", errno: ENOMEM) }
        defer { ckvm_free(buffer) }
        var values: [UInt32: UInt64] = [:]
        for index in indices {
            ckvm_msrs_entry(buffer, 0).pointee.index = index
            if try checked("KVM_GET_MSRS", { ckvm_get_msrs(fd, buffer) }) == 1 {
                values[index] = ckvm_msrs_entry(buffer, 0).pointee.data
            }
        }
        return values
    }

    public func setMSRs(_ values: [UInt32: UInt64]) throws {
        guard let buffer = ckvm_msrs_alloc(1) else { throw KVMError.ioctl(name: "KVM_SET_MSRS", errno: ENOMEM) }
        defer { ckvm_free(buffer) }
        for (index, value) in values.sorted(by: { $0.key < $1.key }) {
            ckvm_msrs_entry(buffer, 0).pointee.index = index
            ckvm_msrs_entry(buffer, 0).pointee.data = value
            guard try checked("KVM_SET_MSRS", { ckvm_set_msrs(fd, buffer) }) == 1 else {
                throw KVMError.unsupported("writing MSR 0x\(String(index, radix: 16))")
            }
        }
    }
}

extension Segment {
    init(_ raw: kvm_segment) {
        self.init(base: raw.base, limit: raw.limit, selector: raw.selector, type: raw.type, present: raw.present != 0,
                  dpl: raw.dpl, db: raw.db != 0, s: raw.s != 0, l: raw.l != 0, g: raw.g != 0, avl: raw.avl != 0,
                  unusable: raw.unusable != 0)
    }
}

extension kvm_segment {
    init(_ s: Segment) {
        self.init(base: s.base, limit: s.limit, selector: s.selector, type: s.type, present: s.present ? 1 : 0,
                  dpl: s.dpl, db: s.db ? 1 : 0, s: s.s ? 1 : 0, l: s.l ? 1 : 0, g: s.g ? 1 : 0,
                  avl: s.avl ? 1 : 0, unusable: s.unusable ? 1 : 0, padding: 0)
    }
}
