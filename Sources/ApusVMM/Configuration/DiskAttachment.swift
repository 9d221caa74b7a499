public import ApusDisk

/// A disk image the machine gets as a virtio-blk device on its PCI bus: raw or qcow2, detected from the file.
public struct DiskAttachment: Sendable, Codable, Equatable {
    public var path: String
    public var readOnly: Bool
    /// The image's chain already opened by a process that vetted it (a sandboxed worker gets these from apusd and
    /// opens nothing by path); nil: `path` is opened. Descriptors mean nothing in another process, so they are not
    /// saved with a snapshot.
    public var handedOver: [HandedOverDiskFile]?

    public init(path: String, readOnly: Bool = false, handedOver: [HandedOverDiskFile]? = nil) {
        self.path = path
        self.readOnly = readOnly
        self.handedOver = handedOver
    }

    private enum CodingKeys: String, CodingKey { case path, readOnly }

    /// Parses the command line's `PATH[,readonly]` (`ro` is accepted too).
    public init(argument: String) throws {
        var parts = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var readOnly = false
        while let last = parts.last, parts.count > 1, ["readonly", "ro"].contains(last) {
            readOnly = true
            parts.removeLast()
        }
        let path = parts.joined(separator: ",")
        guard !path.isEmpty else { throw VMMError.invalidConfiguration("a disk needs a path: --disk PATH[,readonly]") }
        guard parts.count == 1 else {
            throw VMMError.invalidConfiguration("unknown disk option in \"\(argument)\" (only \"readonly\" is known)")
        }
        self.init(path: path, readOnly: readOnly)
    }
}
