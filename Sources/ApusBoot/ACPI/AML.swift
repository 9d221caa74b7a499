/// A small encoder for ACPI Machine Language (ACPI 6.x, chapter 20): enough to declare names, packages, scopes,
/// devices with resource templates and simple methods, which is what a virtual machine's DSDT holds. Each value is
/// a term; `encoded` is its byte form.
public indirect enum AML: Sendable, Equatable {
    case integer(UInt64)
    case string(String)
    case buffer([UInt8])
    case package([AML])
    /// `Name(path, value)`.
    case name(String, AML)
    /// `Scope(path) { terms }`.
    case scope(String, [AML])
    /// `Device(path) { terms }`.
    case device(String, [AML])
    /// `Method(path, argumentCount, NotSerialized) { terms }`.
    case method(String, arguments: UInt8, [AML])
    /// `Return(value)`.
    case returnValue(AML)
    /// A compressed EISA ID such as "PNP0A08", as `EisaId()` encodes it.
    case eisaID(String)

    public var encoded: [UInt8] {
        switch self {
        case .integer(let value):
            switch value {
            case 0: return [0x00]
            case 1: return [0x01]
            case ...0xFF: return [0x0A, UInt8(value)]
            case ...0xFFFF: return [0x0B] + Self.littleEndian(value, 2)
            case ...0xFFFF_FFFF: return [0x0C] + Self.littleEndian(value, 4)
            default: return [0x0E] + Self.littleEndian(value, 8)
            }
        case .string(let text):
            return [0x0D] + Array(text.utf8).filter { $0 != 0 && $0 < 0x80 } + [0x00]
        case .buffer(let bytes):
            return [0x11] + Self.withPackageLength(AML.integer(UInt64(bytes.count)).encoded + bytes)
        case .package(let elements):
            return [0x12] + Self.withPackageLength([UInt8(min(elements.count, 255))] + elements.flatMap(\.encoded))
        case .name(let path, let value):
            return [0x08] + Self.nameString(path) + value.encoded
        case .scope(let path, let terms):
            return [0x10] + Self.withPackageLength(Self.nameString(path) + terms.flatMap(\.encoded))
        case .device(let path, let terms):
            return [0x5B, 0x82] + Self.withPackageLength(Self.nameString(path) + terms.flatMap(\.encoded))
        case .method(let path, let arguments, let terms):
            return [0x14] + Self.withPackageLength(Self.nameString(path) + [arguments & 7] + terms.flatMap(\.encoded))
        case .returnValue(let value):
            return [0xA4] + value.encoded
        case .eisaID(let id):
            return AML.integer(UInt64(Self.compressedEISAID(id))).encoded
        }
    }

    static func littleEndian(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// PkgLength (20.2.4) counts itself: one byte up to 63, else a lead byte with the count of following bytes.
    static func withPackageLength(_ body: [UInt8]) -> [UInt8] {
        for extra in 0...3 {
            let total = body.count + 1 + extra
            if extra == 0 && total < 0x40 { return [UInt8(total)] + body }
            if extra > 0 && total < 1 << (4 + 8 * extra) {
                let lead = UInt8(extra << 6) | UInt8(total & 0xF)
                return [lead] + (0..<extra).map { UInt8(truncatingIfNeeded: total >> (4 + 8 * $0)) } + body
            }
        }
        return [0]   // beyond 2^28 bytes: not a table anyone builds
    }

    /// A path such as `\_SB_.PCI0` or `_S5`: an optional root, then 4-character segments padded with `_`.
    static func nameString(_ path: String) -> [UInt8] {
        var prefix: [UInt8] = []
        var rest = Substring(path)
        while let first = rest.first, first == "\\" || first == "^" {
            prefix.append(first == "\\" ? 0x5C : 0x5E)
            rest = rest.dropFirst()
        }
        let segments = rest.split(separator: ".").map { segment -> [UInt8] in
            let bytes = Array(segment.utf8.prefix(4))
            return bytes + [UInt8](repeating: 0x5F, count: 4 - bytes.count)
        }
        switch segments.count {
        case 0: return prefix + [0x00]
        case 1: return prefix + segments[0]
        case 2: return prefix + [0x2E] + segments[0] + segments[1]
        default: return prefix + [0x2F, UInt8(segments.count)] + segments.flatMap { $0 }
        }
    }

    /// "PNP0A08" → the 32-bit compressed form: three 5-bit letters and four hex digits, stored big-endian.
    static func compressedEISAID(_ id: String) -> UInt32 {
        let chars = Array(id.utf8)
        guard chars.count == 7 else { return 0 }
        let letters = chars[0..<3].map { UInt32($0 &- 0x40) & 0x1F }
        let digits = UInt32(String(decoding: chars[3...], as: UTF8.self), radix: 16) ?? 0
        let value = letters[0] << 26 | letters[1] << 21 | letters[2] << 16 | digits
        return value.byteSwapped
    }
}
