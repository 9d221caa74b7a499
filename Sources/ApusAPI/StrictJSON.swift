/// Checks a request body before it is decoded, for what Foundation's JSONDecoder lets through silently: a key given
/// twice (it keeps one of them), a null (it reads as "absent"), a number with a fraction or exponent where every API
/// number is an integer (1000.0 passes as 1000), an integer out of range, and a body that is not an object. The
/// message names the field, as the decoder's own errors do.
public enum StrictJSON {
    public struct Problem: Error, CustomStringConvertible, Sendable, Equatable {
        public let description: String
    }

    /// Nesting deeper than this is refused rather than recursed into (the API's objects are two levels deep).
    static let maximumDepth = 32

    public static func check(_ bytes: [UInt8]) throws {
        var scanner = Scanner(bytes: bytes)
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "{") else {
            throw Problem(description: "the body must be a JSON object, got \(scanner.describeValueStart())")
        }
        try scanner.value(path: [], depth: 0)
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw scanner.invalid("unexpected text after the object") }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        mutating func skipWhitespace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        func invalid(_ what: String) -> Problem {
            Problem(description: "the body is not valid JSON: \(what) at byte \(index)")
        }

        func describeValueStart() -> String {
            switch peek {
            case nil: return "nothing"
            case UInt8(ascii: "["): return "an array"
            case UInt8(ascii: "\""): return "a string"
            case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
            case UInt8(ascii: "n"): return "null"
            default: return "a number or invalid JSON"
            }
        }

        static func name(_ path: [String]) -> String { "'" + path.joined(separator: ".") + "'" }

        mutating func value(path: [String], depth: Int) throws {
            guard depth < StrictJSON.maximumDepth else { throw Problem(description: "the body is nested too deeply") }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: "{"): try object(path: path, depth: depth)
            case UInt8(ascii: "["): try array(path: path, depth: depth)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"):
                try literal("null")
                throw Problem(description: "\(Self.name(path)) must not be null (leave the field out for its default)")
            case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte):
                try number(path: path)
            case nil: throw invalid("unexpected end")
            default: throw invalid("unexpected character")
            }
        }

        mutating func object(path: [String], depth: Int) throws {
            index += 1
            var seen = Set<String>()
            skipWhitespace()
            if peek == UInt8(ascii: "}") { index += 1; return }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw invalid("expected a field name") }
                let key = try string()
                guard seen.insert(key).inserted else {
                    throw Problem(description: "field \(Self.name(path + [key])) is given more than once")
                }
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw invalid("expected ':'") }
                index += 1
                try value(path: path + [key], depth: depth + 1)
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return
                default: throw invalid("expected ',' or '}'")
                }
            }
        }

        mutating func array(path: [String], depth: Int) throws {
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "]") { index += 1; return }
            var position = 0
            while true {
                try value(path: path + ["\(position)"], depth: depth + 1)
                position += 1
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return
                default: throw invalid("expected ',' or ']'")
                }
            }
        }

        /// A string's contents (escapes decoded), so duplicate keys are found however they are spelled.
        mutating func string() throws -> String {
            index += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flushRaw() throws {
                guard !raw.isEmpty else { return }
                guard let text = String(validating: raw, as: UTF8.self) else { throw invalid("a string is not UTF-8") }
                scalars.append(contentsOf: text.unicodeScalars)
                raw.removeAll()
            }
            while let byte = peek {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    try flushRaw()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    try flushRaw()
                    guard let escape = peek else { throw invalid("unexpected end") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{8}")
                    case UInt8(ascii: "f"): scalars.append("\u{C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var unit = try hex4()
                        if (0xD800..<0xDC00).contains(unit), peek == UInt8(ascii: "\\"),
                           index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") {
                            index += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw invalid("an unpaired surrogate") }
                            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(unit) else { throw invalid("an unpaired surrogate") }
                        scalars.append(scalar)
                    default: throw invalid("an invalid escape")
                    }
                case 0..<0x20:
                    throw invalid("a control character in a string")
                default:
                    raw.append(byte)
                }
            }
            throw invalid("an unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw invalid("unexpected end") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = Character(Unicode.Scalar(bytes[index])).hexDigitValue else { throw invalid("an invalid \\u escape") }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        mutating func literal(_ word: String) throws {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
                throw invalid("unexpected character")
            }
            index += expected.count
        }

        /// JSON's number grammar; every API number is an integer that fits in 64 bits.
        mutating func number(path: [String]) throws {
            let start = index
            if peek == UInt8(ascii: "-") { index += 1 }
            guard let first = peek, (0x30...0x39).contains(first) else { throw invalid("a malformed number") }
            index += 1
            if first != UInt8(ascii: "0") { while let digit = peek, (0x30...0x39).contains(digit) { index += 1 } }
            var integral = true
            if peek == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard let digit = peek, (0x30...0x39).contains(digit) else { throw invalid("a malformed number") }
                while let digit = peek, (0x30...0x39).contains(digit) { index += 1 }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                integral = false
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard let digit = peek, (0x30...0x39).contains(digit) else { throw invalid("a malformed number") }
                while let digit = peek, (0x30...0x39).contains(digit) { index += 1 }
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard integral else { throw Problem(description: "\(Self.name(path)) must be an integer, got \(text)") }
            guard Int64(text) != nil else { throw Problem(description: "\(Self.name(path)) is out of range: \(text)") }
        }
    }
}
