/// A parsed and validated bzImage: its setup header and protected-mode part (Documentation/arch/x86/boot.rst).
public struct BzImage: Sendable {
    public let protocolVersion: UInt16
    /// The real-mode part's size in 512-byte sectors after the boot sector (setup_sects, with 0 meaning 4).
    public let setupSectors: Int
    public let loadFlags: UInt8
    /// Zero before protocol 2.12.
    public let xloadFlags: UInt16
    public let initrdAddressMax: UInt32
    public let kernelAlignment: UInt32
    public let relocatable: Bool
    /// The longest command line the kernel takes, without the terminating NUL (cmdline_size).
    public let commandLineLimit: UInt32
    /// Zero before protocol 2.10.
    public let preferredAddress: UInt64
    /// Bytes the kernel needs from its runtime start while it decompresses; zero before protocol 2.10.
    public let initSize: UInt32
    /// The version string the header points at, if any ("6.1.0-28-cloud-amd64 (...) #1 SMP ...").
    public let kernelVersion: String?
    /// The setup header as the file holds it, offsets 0x1F1 up to its end (0x202 + the byte at 0x201).
    public let setupHeader: ArraySlice<UInt8>
    /// Everything after the real-mode part: what loads at 1 MiB.
    public let protectedModeCode: ArraySlice<UInt8>

    public init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes: bytes)
        guard !bytes.isEmpty else { throw BootError.emptyImage }
        guard try reader.u16(UInt64(ZeroPage.bootFlag), "the boot sector") == ZeroPage.bootFlagValue else {
            throw BootError.invalidBzImage("there is no boot flag 0xAA55 at offset 0x1FE")
        }
        guard try reader.slice(UInt64(ZeroPage.header), count: 4, "the setup header").elementsEqual(ZeroPage.headerMagic)
        else { throw BootError.invalidBzImage("there is no \"HdrS\" signature at offset 0x202") }

        func field<T>(_ offset: Int, _ read: (UInt64, String) throws -> T) throws -> T {
            try read(UInt64(offset), "the setup header")
        }
        let version = try field(ZeroPage.version, reader.u16)
        guard version >= BootProtocol.minimum else { throw BootError.unsupportedProtocol(version) }
        protocolVersion = version

        // The jump at 0x200 doubles as the header's length: it ends at 0x202 plus the jump's displacement.
        guard try field(ZeroPage.jump, reader.u8) == ZeroPage.shortJump else {
            throw BootError.invalidBzImage("the setup header does not start with a short jump (0xEB) at 0x200")
        }
        let headerEnd = ZeroPage.header + Int(try field(ZeroPage.jump + 1, reader.u8))
        let fieldsEnd = version >= BootProtocol.withInitSize ? ZeroPage.initSize + 4 : ZeroPage.commandLineSize + 4
        guard headerEnd >= fieldsEnd, headerEnd <= ZeroPage.headerLimit else {
            throw BootError.invalidBzImage("its setup header ends at \(hex(UInt64(headerEnd))), which does not fit "
                                           + "protocol \(protocolString(version))")
        }
        setupHeader = try reader.slice(UInt64(ZeroPage.setupSects), count: UInt64(headerEnd - ZeroPage.setupSects),
                                       "the setup header")

        loadFlags = try field(ZeroPage.loadFlags, reader.u8)
        guard loadFlags & ZeroPage.loadedHigh != 0 else {
            throw BootError.invalidBzImage("it is a zImage, loaded low at 0x10000, which has no 64-bit entry")
        }
        xloadFlags = version >= BootProtocol.withXLoadFlags ? try field(ZeroPage.xloadFlags, reader.u16) : 0
        // Before 2.12 a loader cannot ask; every x86-64 kernel of that era has startup_64 at +0x200.
        guard version < BootProtocol.withXLoadFlags || xloadFlags & ZeroPage.xlfKernel64 != 0 else {
            throw BootError.no64BitEntry
        }
        initrdAddressMax = try field(ZeroPage.initrdAddressMax, reader.u32)
        kernelAlignment = try field(ZeroPage.kernelAlignment, reader.u32)
        relocatable = try field(ZeroPage.relocatableKernel, reader.u8) != 0
        if relocatable, kernelAlignment == 0 || kernelAlignment & (kernelAlignment - 1) != 0 {
            throw BootError.invalidBzImage("its kernel_alignment \(hex(UInt64(kernelAlignment))) is not a power of two")
        }
        commandLineLimit = try field(ZeroPage.commandLineSize, reader.u32)
        if version >= BootProtocol.withInitSize {
            preferredAddress = try field(ZeroPage.prefAddress, reader.u64)
            initSize = try field(ZeroPage.initSize, reader.u32)
        } else {
            preferredAddress = 0
            initSize = 0
        }

        let sectors = Int(try field(ZeroPage.setupSects, reader.u8))
        setupSectors = sectors == 0 ? 4 : sectors
        let setupSize = UInt64(setupSectors + 1) * 512
        let systemSize = UInt64(try field(ZeroPage.syssize, reader.u32)) * 16
        guard setupSize < UInt64(bytes.count) else {
            throw BootError.truncated(what: "the protected-mode kernel", needed: setupSize + 1, fileSize: bytes.count)
        }
        _ = try reader.slice(setupSize, count: systemSize, "the protected-mode kernel (syssize)")
        protectedModeCode = bytes[Int(setupSize)...]

        let versionPointer = try field(ZeroPage.kernelVersion, reader.u16)
        kernelVersion = versionPointer == 0 ? nil : reader.printableString(at: UInt64(versionPointer) + 0x200, limit: 256)
    }

    /// Where the kernel decompresses itself when its protected-mode part is loaded at `loadAddress`: boot.rst's
    /// runtime start (aligned load address if relocatable, else pref_address), never below pref_address, since the
    /// x86-64 decompressor also refuses to run below LOAD_PHYSICAL_ADDR, which pref_address publishes.
    /// Nil when the arithmetic overflows (a hostile header).
    public func runtimeStart(loadedAt loadAddress: UInt64) -> UInt64? {
        var start = loadAddress
        if relocatable {
            let mask = UInt64(kernelAlignment) - 1
            let (raised, overflow) = loadAddress.addingReportingOverflow(mask)
            guard !overflow else { return nil }
            start = raised & ~mask
        } else if preferredAddress != 0 {
            start = preferredAddress
        }
        return max(start, preferredAddress)
    }

    /// The first 64 characters of the version string up to its first space ("6.1.0-28-cloud-amd64").
    var shortVersion: String? {
        kernelVersion.flatMap { $0.split(separator: " ").first.map { String($0.prefix(64)) } }
    }
}
