/// Where the machine's devices live, as docs/GUEST-ABI.md promises the guests.
enum PlatformLayout {
    static let com1Port: UInt16 = 0x3F8
    static let com1IRQ: UInt32 = 4
    static let uartRegisterCount: UInt16 = 8
    static let debugExitPort: UInt16 = 0xF4
    static let postCodePort: UInt16 = 0x80
    /// The MMIO UART takes the first allocation of the MMIO window, which is 0xD000_0000.
    static let mmioUARTSize: UInt64 = 8
}
