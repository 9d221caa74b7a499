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
}
