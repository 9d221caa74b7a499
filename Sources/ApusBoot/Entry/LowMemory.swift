/// Fixed guest-physical addresses the loaders use below 1 MiB (docs/GUEST-ABI.md keeps 0-0xFFFF for the loader's
/// tables and everything below 0x100000 away from ELF segments).
///
///     0x00500  GDT                       0x09000  PML4
///     0x00600  TSS (0x68 bytes)          0x0A000  PDPT
///     0x07000  Linux boot_params         0x0B000  4 page directories (to 0x0EFFF)
///     0x08000  flat images (to 0x80000)  0x20000  Linux command line (one page)
///     0x9FC00-0xFFFFF reserved in the e820 map (EBDA, ROM area: room for MP/ACPI tables)
public enum LowMemory {
    public static let gdt: UInt64 = 0x500
    public static let tss: UInt64 = 0x600
    /// 104 bytes, the 64-bit TSS without an I/O permission bitmap.
    public static let tssLimit: UInt32 = 0x67
    public static let pml4: UInt64 = 0x9000
    public static let pdpt: UInt64 = 0xA000
    /// Four page directories, 0xB000-0xEFFF, map the first 4 GiB with 2 MiB pages.
    public static let pageDirectories: UInt64 = 0xB000
    public static let pageTablesEnd: UInt64 = 0xF000
    public static let flatImageBase: UInt64 = 0x8000
    public static let flatImageLimit: UInt64 = 0x80000
    public static let realModeStack: UInt16 = 0x7000
    public static let protectedModeStack: UInt64 = 0x80000
    /// ELF segments of our own guests, and a Linux kernel, load at or above this.
    public static let reservedEnd: UInt64 = 0x100000

    public static let bootParams: UInt64 = 0x7000
    public static let commandLine: UInt64 = 0x20000
    /// Bytes reserved for the command line, its terminating NUL included.
    public static let commandLineCapacity = 4096
    /// A bzImage's protected-mode part (boot.rst: bzImage kernels load at 0x100000).
    public static let bzImageLoadAddress: UInt64 = 0x100000
    /// The stack Linux is entered with: the page below the page tables, free in the Linux layout. The kernel sets
    /// its own stack before using much of it.
    public static let linuxStack: UInt64 = 0x9000

    /// Where the PC's conventional memory ends and the EBDA/ROM hole begins.
    public static let conventionalMemoryEnd: UInt64 = 0x9FC00
}
