/// Where the loader's GDT puts its selectors.
public struct GDTLayout: Sendable, Equatable {
    public var codeSelector: UInt16
    public var dataSelector: UInt16
    /// A 16-byte TSS descriptor: this slot and the next.
    public var taskSelector: UInt16

    public init(codeSelector: UInt16, dataSelector: UInt16, taskSelector: UInt16) {
        self.codeSelector = codeSelector
        self.dataSelector = dataSelector
        self.taskSelector = taskSelector
    }

    /// Our own guests (docs/GUEST-ABI.md): code 0x08, data 0x10, TSS 0x18.
    public static let guest = GDTLayout(codeSelector: 0x08, dataSelector: 0x10, taskSelector: 0x18)
    /// Linux's 32- and 64-bit boot protocols ask for __BOOT_CS = 0x10 and __BOOT_DS = 0x18
    /// (Documentation/arch/x86/boot.rst); slot 0x08 stays null as in the kernel's own boot GDT.
    public static let linux = GDTLayout(codeSelector: 0x10, dataSelector: 0x18, taskSelector: 0x20)

    /// Bytes the table spans, for the GDTR limit (which is that minus one).
    var tableSize: Int { Int(max(codeSelector, dataSelector, taskSelector + 8)) + 8 }
}
