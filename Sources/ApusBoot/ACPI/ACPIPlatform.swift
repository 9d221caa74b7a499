/// What the ACPI tables describe: the machine's interrupt controllers, its power-management block and whatever
/// later parts (a PCI root bridge) add to the DSDT or as extra tables.
public struct ACPIPlatform: Sendable, Equatable {
    public var vcpuCount: Int
    public var localAPICAddress: UInt32 = 0xFEE0_0000
    public var ioapicAddress: UInt32 = 0xFEC0_0000
    public var ioapicID: UInt8 = 0
    /// The IOAPIC's first GSI.
    public var ioapicGSIBase: UInt32 = 0
    /// The ISA IRQ of the SCI (wired to the same-numbered GSI, level-triggered, active high).
    public var sciIRQ: UInt8 = 9
    /// The first port of the power-management block (ApusDevices' ACPIPowerManagement layout).
    public var pmBlockPort: UInt16 = 0x600
    public var pm1EventOffset: UInt16 = 0
    public var pm1ControlOffset: UInt16 = 4
    public var pmTimerOffset: UInt16 = 8
    public var resetRegisterOffset: UInt16 = 12
    public var resetValue: UInt8 = 0x06
    /// `\_S5`'s SLP_TYPa value.
    public var softOffSleepType: UInt8 = 5
    /// Terms added under `\_SB` (a PCI root bridge device, say).
    public var systemBusDevices: [AML] = []
    /// Further tables, complete with their headers and checksums (an MCFG, say); XSDT lists them.
    public var extraTables: [[UInt8]] = []

    public init(vcpuCount: Int) {
        self.vcpuCount = vcpuCount
    }
}
