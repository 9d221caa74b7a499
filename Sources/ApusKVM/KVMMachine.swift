public import ApusCore
import CKVM
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A KVM virtual machine (the VM file descriptor): memory slots, the split irqchip (local APICs in the kernel; the
/// 8259A pair, IOAPIC and 8254 in the VMM), and VM-wide ioctls. vCPUs are created from here, each on the thread that
/// will run it.
public final class KVMMachine: MachineBackend {
    /// Below 4 GiB and above any RAM Apus gives a guest: KVM needs three pages for the real-mode TSS on Intel hosts
    /// and one for the EPT identity map, and they must not overlap RAM or MMIO devices.
    static let tssAddress: UInt = 0xFFFB_D000
    static let identityMapAddress: UInt64 = 0xFFFB_C000

    public let backendName = "kvm"
    public let memory: GuestMemory
    public let options: MachineOptions
    let system: KVMSystem
    public let fd: Int32
    let cpuid: CPUIDTable
    let runSize: Int
    let fpuAccess: FPUAccess
    /// The VMM's controllers, on a machine with `.full` interrupt control.
    let links = SplitIRQChipLinks()
    /// Diagnostics for the VM log (a routing update KVM refused, say).
    let diagnostics = Mutex<(@Sendable (String) -> Void)?>(nil)

    init(system: KVMSystem, memory: GuestMemory, options: MachineOptions) throws {
        self.system = system
        self.memory = memory
        self.options = options
        let fd = try system.createVM()
        self.fd = fd
        do {
            runSize = try system.vcpuMmapSize()
            cpuid = try system.supportedCPUID()
            fpuAccess = FPUAccess(system)
            Self.filter(cpuid)
            _ = try checked("KVM_SET_TSS_ADDR") { ckvm_set_tss_addr(fd, Self.tssAddress) }
            _ = try checked("KVM_SET_IDENTITY_MAP_ADDR") { ckvm_set_identity_map_addr(fd, Self.identityMapAddress) }
            if options.interruptController == .full {
                _ = try checked("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)") {
                    ckvm_enable_split_irqchip(fd, UInt64(Self.ioapicPins))
                }
            }
            for slot in memory.regions.indices {
                try Self.registerSlot(slot, of: memory, vmFD: fd, flags: 0)
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Tells KVM that memory slot `slot` is `memory.regions[slot]`. Re-registering a slot changes only its flags.
    static func registerSlot(_ slot: Int, of memory: GuestMemory, vmFD: Int32, flags: UInt32) throws {
        let region = memory.regions[slot]
        var description = kvm_userspace_memory_region(
            slot: UInt32(slot), flags: flags, guest_phys_addr: region.range.start.rawValue,
            memory_size: region.range.size, userspace_addr: UInt64(UInt(bitPattern: region.hostBase)))
        _ = try checked("KVM_SET_USER_MEMORY_REGION") { ckvm_set_user_memory_region(vmFD, &description) }
    }

    /// What the guest's CPUID says, edited in this one place:
    /// - the hypervisor bit (leaf 1 ECX bit 31) is set, as every VMM does;
    /// - CMPXCHG16B (leaf 1 ECX bit 13) is hidden: nested KVM hosts like the build machines emulate kernel code and
    ///   their emulator lacks it.
    static func filter(_ table: CPUIDTable) {
        table.modify(1) { entry in
            entry.ecx |= 1 << 31
            entry.ecx &= ~(1 << 13)
        }
    }

    /// vCPU `index`'s CPUID: the machine's, with its APIC ID and the machine's CPU count (`CPUTopology`).
    func cpuid(forVCPU index: Int) -> CPUIDTable {
        let table = cpuid.copy()
        let amd = cpuid.leaf(0).map { CPUTopology.isAMD(vendorEBX: $0.1) } ?? false
        table.place(CPUTopology(apicID: UInt32(index), cpuCount: options.vcpuCount, amdLeaves: amd))
        return table
    }

    /// Creates vCPU `index` on the calling thread, which must be the thread that calls its `run()`: kicks are
    /// signals aimed at that thread.
    public func makeVCPU(index: Int) throws -> any VCPUBackend {
        let split = options.interruptController == .full
        let vcpu = try KVMVCPU(machine: self, index: index,
                               pic: split && index == 0 ? links.pic : nil,
                               endOfInterruptListener: split ? links.endOfInterruptListener : nil)
        if split && index == 0 { links.setBootstrapKicker(vcpu.kvmKicker) }
        return vcpu
    }

    public func setDiagnosticsHandler(_ handler: @escaping @Sendable (String) -> Void) {
        diagnostics.withLock { $0 = handler }
    }

    /// The guest's kvmclock, to carry it across suspend and migration (KVM_GET_CLOCK).
    public func clock() throws -> UInt64 {
        var data = kvm_clock_data()
        _ = try checked("KVM_GET_CLOCK") { ckvm_get_clock(fd, &data) }
        return data.clock
    }

    /// Sets the guest's kvmclock (KVM_SET_CLOCK).
    public func setClock(_ value: UInt64) throws {
        var data = kvm_clock_data()
        data.clock = value
        _ = try checked("KVM_SET_CLOCK") { ckvm_set_clock(fd, &data) }
    }
}
