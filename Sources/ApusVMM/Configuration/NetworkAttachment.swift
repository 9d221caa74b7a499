/// A virtio-net device on the machine's PCI bus, connected to a host TAP interface.
public struct NetworkAttachment: Sendable, Codable, Equatable {
    /// The TAP interface's name: opened if it exists, created (for this run) if it does not.
    public var tap: String
    /// The guest's MAC address, 6 bytes.
    public var mac: [UInt8]

    public init(tap: String, mac: [UInt8]? = nil) throws {
        guard (1...15).contains(tap.utf8.count),
              tap.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }),
              tap != ".", tap != ".." else {
            throw VMMError.invalidConfiguration(
                "\"\(tap)\" is not an interface name (1-15 printable characters, no '/', ':' or spaces)")
        }
        let address = mac ?? Self.defaultMAC(for: tap)
        guard address.count == 6 else { throw VMMError.invalidConfiguration("a MAC address has 6 bytes") }
        guard address[0] & 1 == 0 else {
            throw VMMError.invalidConfiguration("\(Self.format(address)) is a multicast address; a NIC needs a unicast one")
        }
        self.tap = tap
        self.mac = address
    }

    /// Parses the command line's `tap=NAME[,mac=XX:XX:XX:XX:XX:XX]`.
    public init(argument: String) throws {
        var tap: String?
        var mac: [UInt8]?
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            switch (pair.first, pair.count) {
            case ("tap", 2): tap = pair[1]
            case ("mac", 2): mac = try Self.parseMAC(pair[1])
            default:
                throw VMMError.invalidConfiguration(
                    "unknown network option \"\(part)\" in \"\(argument)\" (expected tap=NAME[,mac=XX:XX:XX:XX:XX:XX])")
            }
        }
        guard let tap else { throw VMMError.invalidConfiguration("a network needs a TAP: --net tap=NAME[,mac=...]") }
        try self.init(tap: tap, mac: mac)
    }

    public var macString: String { Self.format(mac) }

    static func parseMAC(_ text: String) throws -> [UInt8] {
        let bytes = text.split(separator: ":", omittingEmptySubsequences: false).map { UInt8($0, radix: 16) }
        guard bytes.count == 6, text.count == 17, bytes.allSatisfy({ $0 != nil }) else {
            throw VMMError.invalidConfiguration("\"\(text)\" is not a MAC address (XX:XX:XX:XX:XX:XX)")
        }
        return bytes.map { $0! }
    }

    static func format(_ mac: [UInt8]) -> String {
        mac.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// A locally administered unicast address derived from the TAP's name (FNV-1a), the same on every run.
    static func defaultMAC(for tap: String) -> [UInt8] {
        var hash: UInt32 = 2_166_136_261
        for byte in tap.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return [0x02, 0xA9] + (0..<4).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt32($0))) }
    }
}
