import ApusCore

/// Where the machine's devices live, as docs/GUEST-ABI.md promises the guests.
enum PlatformLayout {
    static let com1Port: UInt16 = 0x3F8
    static let com1IRQ: UInt32 = 4
    static let uartRegisterCount: UInt16 = 8
    static let debugExitPort: UInt16 = 0xF4
    static let postCodePort: UInt16 = 0x80
    /// QEMU's fw_cfg selector and data ports.
    static let firmwareConfigPort: UInt16 = 0x510
    /// The MMIO UART takes the first allocation of the MMIO window, which is 0xD000_0000.
    static let mmioUARTSize: UInt64 = 8

    // The interrupt-controller platform (MachinePlatform.interruptController == .full).
    static let picMasterPort: UInt16 = 0x20
    static let picSlavePort: UInt16 = 0xA0
    static let pitPort: UInt16 = 0x40
    static let systemControlPortB: UInt16 = 0x61
    static let cmosPort: UInt16 = 0x70
    static let keyboardDataPort: UInt16 = 0x60
    static let keyboardCommandPort: UInt16 = 0x64
    static let pitIRQ: UInt32 = 0
    static let cascadeIRQ: UInt32 = 2
    static let rtcIRQ: UInt32 = 8
    /// ACPI: the SCI's ISA IRQ (level-triggered, as the MADT says), the PM block's ports, the IOAPIC's page.
    static let sciIRQ: UInt32 = 9
    static let acpiPMPort: UInt16 = 0x600
    static let ioapicAddress: UInt64 = 0xFEC0_0000

    // PCI bus 0 (interrupt-controller platform only), inside the allocator's MMIO space 0xD000_0000-0xF000_0000.
    /// ECAM for bus 0 (1 MiB), as the MCFG table says, reserved to the OS by a PNP0C02 device.
    static let pciECAMAddress: UInt64 = 0xD800_0000
    /// Where the guest places memory BARs.
    static let pciMemoryWindow = GuestRange(start: GuestAddress(0xE000_0000), size: 0x1000_0000)
    /// Where the guest places I/O BARs.
    static let pciIOWindow = GuestRange(start: GuestAddress(0xC000), size: 0x4000)
    /// INTx of PCI slots: GSIs 16-19 (IOAPIC pins only), swizzled by slot as the DSDT's _PRT says.
    static let pciFirstINTxGSI: UInt32 = 16
    static let maximumDisks = 16
    /// PCI slots after the disks': virtio-rng, virtio-console, then the networks (slot 31 is the last).
    static let entropySlot = maximumDisks + 1
    static let secondConsoleSlot = maximumDisks + 2
    static let firstNetworkSlot = maximumDisks + 3
    static let maximumNetworks = 8
}
