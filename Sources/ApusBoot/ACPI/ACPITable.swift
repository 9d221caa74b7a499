/// A system description table under construction: the 36-byte header (ACPI 6.x, 5.2.6) followed by the body, with
/// the length and checksum filled in by `bytes`.
struct ACPITable {
    let signature: String
    let revision: UInt8
    var body: [UInt8] = []

    static let headerSize = 36
    static let oemID = "APUS  "
    static let oemTableID = "APUSVM  "
    static let creatorID = "APUS"

    mutating func append8(_ value: UInt8) { body.append(value) }
    mutating func append16(_ value: UInt16) { body += AML.littleEndian(UInt64(value), 2) }
    mutating func append32(_ value: UInt32) { body += AML.littleEndian(UInt64(value), 4) }
    mutating func append64(_ value: UInt64) { body += AML.littleEndian(value, 8) }
    mutating func append(_ bytes: [UInt8]) { body += bytes }

    /// A Generic Address Structure (5.2.3.2) for a system I/O block.
    mutating func appendIOAddress(_ port: UInt16, bitWidth: UInt8, accessSize: UInt8) {
        body += [1, bitWidth, 0, accessSize] + AML.littleEndian(UInt64(port), 8)
    }

    var bytes: [UInt8] {
        var header = Array(signature.utf8.prefix(4))
        header += AML.littleEndian(UInt64(Self.headerSize + body.count), 4)
        header += [revision, 0]
        header += Array(Self.oemID.utf8) + Array(Self.oemTableID.utf8)
        header += AML.littleEndian(1, 4) + Array(Self.creatorID.utf8) + AML.littleEndian(1, 4)
        var all = header + body
        all[9] = ACPITables.checksum(all)
        return all
    }
}
