/// Where the loader's GDT puts its selectors. Our guests follow docs/GUEST-ABI.md; Linux's 64-bit boot protocol asks
/// for __BOOT_CS = 0x10 and __BOOT_DS = 0x18 (Documentation/arch/x86/boot.rst).
public struct GDTLayout: Sendable, Equatable {
    public var codeSelector: UInt16
    public var dataSelector: UInt16
    public var taskSelector: UInt16

    public static let guest = GDTLayout(codeSelector: 0x08, dataSelector: 0x10, taskSelector: 0x18)
    public static let linux = GDTLayout(codeSelector: 0x10, dataSelector: 0x18, taskSelector: 0x20)
}

/// Fixed low-memory addresses the loader uses for its tables (docs/GUEST-ABI.md keeps 0-0xFFFF for them).
public enum LowMemory {
    public static let gdt: UInt64 = 0x500
    public static let tss: UInt64 = 0x600
    public static let tssLimit: UInt32 = 0x67
    public static let pml4: UInt64 = 0x9000
    public static let pdpt: UInt64 = 0xA000
    /// Four page directories, 0xB000-0xEFFF, map the first 4 GiB with 2 MiB pages.
    public static let pageDirectories: UInt64 = 0xB000
    public static let bootParams: UInt64 = 0x7000
    public static let commandLine: UInt64 = 0x20000
    public static let flatImageBase: UInt64 = 0x8000
    public static let flatImageLimit: UInt64 = 0x80000
    public static let realModeStack: UInt64 = 0x7000
    public static let protectedModeStack: UInt64 = 0x80000
    /// ELF segments of our own guests must load at or above this.
    public static let reservedEnd: UInt64 = 0x100000
}
