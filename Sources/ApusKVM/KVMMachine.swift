public import ApusCore
import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// A KVM virtual machine (the VM file descriptor): memory slots, the in-kernel interrupt controller, and VM-wide
/// ioctls. vCPUs are created from here on their own threads.
public final class KVMMachine: MachineBackend {
    /// Below 4 GiB and above any RAM Apus gives a guest: KVM needs three pages for the real-mode TSS on Intel hosts
    /// and one for the EPT identity map.
    static let tssAddress: UInt = 0xFFFB_D000
    static let identityMapAddress: UInt64 = 0xFFFB_C000

    public let backendName = "kvm"
    public let memory: GuestMemory
    public let options: MachineOptions
    let system: KVMSystem
    public let fd: Int32
    let cpuid: CPUIDTable
    let runSize: Int

    init(system: KVMSystem, memory: GuestMemory, options: MachineOptions) throws {
        self.system = system
        self.memory = memory
        self.options = options
        let fd = try system.createVM()
        self.fd = fd
        do {
            runSize = try system.vcpuMmapSize()
            cpuid = try system.supportedCPUID()
            Self.filter(cpuid)
            _ = try checked("KVM_SET_TSS_ADDR") { ckvm_set_tss_addr(fd, Self.tssAddress) }
            _ = try checked("KVM_SET_IDENTITY_MAP_ADDR") { ckvm_set_identity_map_addr(fd, Self.identityMapAddress) }
            if options.interruptController == .full {
                _ = try checked("KVM_CREATE_IRQCHIP") { ckvm_create_irqchip(fd) }
            }
            for (slot, region) in memory.regions.enumerated() {
                var description = kvm_userspace_memory_region(
                    slot: UInt32(slot), flags: 0, guest_phys_addr: region.range.start.rawValue,
                    memory_size: region.range.size, userspace_addr: UInt64(UInt(bitPattern: region.hostBase)))
                _ = try checked("KVM_SET_USER_MEMORY_REGION") { ckvm_set_user_memory_region(fd, &description) }
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// What the guest's CPUID says, edited in this one place:
    /// - the hypervisor bit is set, as every VMM does;
    /// - CMPXCHG16B is hidden: nested KVM hosts like these build machines emulate kernel code and lack it.
    static func filter(_ table: CPUIDTable) {
        table.modify(1) { entry in
            entry.ecx |= 1 << 31
            entry.ecx &= ~(1 << 13)
        }
    }

    public func makeVCPU(index: Int) throws -> any VCPUBackend {
        try KVMVCPU(machine: self, index: index)
    }

    public func interruptLine(_ gsi: UInt32) -> any InterruptLine {
        guard options.interruptController == .full else {
            // No interrupt controller in this machine (a board without a PIC): the line goes nowhere.
            return DisconnectedInterruptLine()
        }
        return KVMInterruptLine(vmFD: fd, gsi: gsi)
    }

    /// Pages the guest wrote in memory slot `slot` since the last call (needs the slot registered with dirty logging).
    public func dirtyPages(slot: Int) throws -> [Int] {
        let region = memory.regions[slot]
        let pages = Int(region.range.size / 4096)
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

    /// Injects a message-signalled interrupt (for future PCI devices).
    public func signalMSI(address: UInt64, data: UInt32) throws {
        var message = kvm_msi()
        message.address_lo = UInt32(truncatingIfNeeded: address)
        message.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        message.data = data
        _ = try checked("KVM_SIGNAL_MSI") { ckvm_signal_msi(fd, &message) }
    }

    /// The guest's kvmclock, to carry it across suspend and migration.
    public func clock() throws -> UInt64 {
        var data = kvm_clock_data()
        _ = try checked("KVM_GET_CLOCK") { ckvm_get_clock(fd, &data) }
        return data.clock
    }

    public func setClock(_ value: UInt64) throws {
        var data = kvm_clock_data()
        data.clock = value
        _ = try checked("KVM_SET_CLOCK") { ckvm_set_clock(fd, &data) }
    }
}

/// An interrupt controller input pin of KVM's in-kernel irqchip.
struct KVMInterruptLine: InterruptLine {
    let vmFD: Int32
    let gsi: UInt32

    func setLevel(_ asserted: Bool) {
        // A failure here means the VM is being torn down; a device has no one to report it to.
        _ = ckvm_irq_line(vmFD, gsi, asserted ? 1 : 0)
    }
}
