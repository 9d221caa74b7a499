import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// The /dev/kvm file descriptor: KVM's system-level ioctls.
public final class KVMSystem: Sendable {
    public static let expectedAPIVersion: Int32 = 12
    public let fd: Int32

    public init(path: String = "/dev/kvm") throws {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw KVMError.open(path: path, errno: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    public func apiVersion() throws -> Int32 {
        try checked("KVM_GET_API_VERSION") { ckvm_get_api_version(fd) }
    }

    /// The value KVM reports for a capability (0 when absent).
    public func checkExtension(_ capability: Int32) -> Int32 {
        max(0, ckvm_check_extension(fd, Int(capability)))
    }

    public func vcpuMmapSize() throws -> Int {
        Int(try checked("KVM_GET_VCPU_MMAP_SIZE") { ckvm_get_vcpu_mmap_size(fd) })
    }

    /// The CPUID leaves this host's KVM can give a guest.
    public func supportedCPUID() throws -> CPUIDTable {
        var capacity: UInt32 = 128
        while true {
            guard let table = ckvm_cpuid2_alloc(capacity) else { throw KVMError.ioctl(name: "KVM_GET_SUPPORTED_CPUID", errno: ENOMEM) }
            if ckvm_get_supported_cpuid(fd, table) >= 0 {
                return CPUIDTable(owning: table)
            }
            let code = errno
            ckvm_free(table)
            guard code == E2BIG, capacity < 4096 else { throw KVMError.ioctl(name: "KVM_GET_SUPPORTED_CPUID", errno: code) }
            capacity *= 2
        }
    }

    /// The MSR indices KVM can save and restore.
    public func msrIndexList() throws -> [UInt32] {
        var capacity: UInt32 = 256
        while true {
            guard let list = ckvm_msr_list_alloc(capacity) else { throw KVMError.ioctl(name: "KVM_GET_MSR_INDEX_LIST", errno: ENOMEM) }
            defer { ckvm_free(list) }
            if ckvm_get_msr_index_list(fd, list) >= 0 {
                return (0..<list.pointee.nmsrs).map { ckvm_msr_list_index(list, $0) }
            }
            guard errno == E2BIG, capacity < 16384 else { throw KVMError.ioctl(name: "KVM_GET_MSR_INDEX_LIST", errno: errno) }
            capacity *= 4
        }
    }

    public func createVM() throws -> Int32 {
        try checked("KVM_CREATE_VM") { ckvm_create_vm(fd) }
    }
}
