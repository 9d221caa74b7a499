/// Whether the guest reads from or writes to a port or an MMIO address.
public enum IODirection: Sendable, Equatable {
    case read
    case write
}

/// A port I/O access that left the guest.
///
/// `data` is owned by the backend and valid until the next `run()`: for a write it holds what the guest wrote; for a
/// read the dispatcher fills it and the backend completes the instruction on the next `run()` (KVM's model).
public struct PortIOExit {
    public var port: UInt16
    /// Bytes per access: 1, 2 or 4.
    public var size: Int
    /// More than one for `rep ins` / `rep outs`; the accesses are consecutive in `data`.
    public var count: Int
    public var direction: IODirection
    public var data: UnsafeMutableRawBufferPointer

    public init(port: UInt16, size: Int, count: Int = 1, direction: IODirection, data: UnsafeMutableRawBufferPointer) {
        self.port = port; self.size = size; self.count = count; self.direction = direction; self.data = data
    }
}

/// A memory access to a guest-physical address with no RAM behind it. `data` works as in `PortIOExit`.
public struct MMIOExit {
    public var address: GuestAddress
    /// Bytes: 1, 2, 4 or 8.
    public var size: Int
    public var direction: IODirection
    public var data: UnsafeMutableRawBufferPointer

    public init(address: GuestAddress, size: Int, direction: IODirection, data: UnsafeMutableRawBufferPointer) {
        self.address = address; self.size = size; self.direction = direction; self.data = data
    }
}

/// A platform-level request made by the guest (ACPI/PSCI-style), as KVM_EXIT_SYSTEM_EVENT reports it.
public enum SystemEvent: Sendable, Equatable {
    case shutdown
    case reset
    case crash
}

/// Why `VCPUBackend.run()` returned.
public enum VCPUExit {
    case portIO(PortIOExit)
    case mmio(MMIOExit)
    /// HLT with nothing left to wake the vCPU (KVM: no in-kernel irqchip, or the soft CPU with IF=0).
    case halt
    /// Triple fault: on a PC this resets the machine.
    case shutdown
    case systemEvent(SystemEvent)
    /// Another thread kicked the vCPU (pause, stop, suspend); no guest instruction was left half-done.
    case interrupted
    /// The backend could not continue: the string names what happened (e.g. an emulation failure and its bytes).
    case internalError(String)
    /// The CPU refused the register state it was entered with.
    case failedEntry(String)

    /// A short name for logs and metrics.
    public var kind: String {
        switch self {
        case .portIO: return "pio"
        case .mmio: return "mmio"
        case .halt: return "halt"
        case .shutdown: return "shutdown"
        case .systemEvent: return "system_event"
        case .interrupted: return "interrupted"
        case .internalError: return "internal_error"
        case .failedEntry: return "failed_entry"
        }
    }
}
