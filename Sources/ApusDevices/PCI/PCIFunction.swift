/// One PCI function as the bus sees it: configuration space plus the registers behind its BARs.
///
/// The bus serialises every call, so implementations need no locking of their own for guest accesses.
public protocol PCIFunction: AnyObject {
    var config: PCIConfigSpace { get }
    func readConfig(offset: Int, size: Int) -> UInt32
    /// The default applies the write to config space; functions override to react (MSI-X enable, INTx disable).
    func writeConfig(offset: Int, size: Int, value: UInt32)
    func readBar(_ index: Int, offset: UInt64, size: Int) -> UInt64
    func writeBar(_ index: Int, offset: UInt64, size: Int, value: UInt64)
}

/// The host bridge at 00:00.0: identification only, no BARs.
public final class PCIHostBridgeFunction: PCIFunction {
    public private(set) var config: PCIConfigSpace

    public init() {
        // Red Hat's "QEMU PCIe host bridge" IDs: Linux binds no quirks to them. Class 06/00/00: host bridge.
        config = PCIConfigSpace(vendorID: 0x1B36, deviceID: 0x0008, classCode: 0x06_0000, interruptPin: 0)
    }

    public func readConfig(offset: Int, size: Int) -> UInt32 { config.read(offset: offset, size: size) }
    public func writeConfig(offset: Int, size: Int, value: UInt32) { config.write(offset: offset, size: size, value: value) }
    public func readBar(_ index: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
    public func writeBar(_ index: Int, offset: UInt64, size: Int, value: UInt64) {}
}
