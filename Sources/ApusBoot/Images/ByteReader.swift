/// Bounds-checked little-endian reads from an untrusted file: every read either succeeds or throws `.truncated`
/// naming what was being read, so a hostile image can never make a loader read past its end.
struct ByteReader {
    let bytes: [UInt8]

    func u8(_ offset: UInt64, _ what: String) throws -> UInt8 { UInt8(try value(offset, size: 1, what)) }
    func u16(_ offset: UInt64, _ what: String) throws -> UInt16 { UInt16(try value(offset, size: 2, what)) }
    func u32(_ offset: UInt64, _ what: String) throws -> UInt32 { UInt32(try value(offset, size: 4, what)) }
    func u64(_ offset: UInt64, _ what: String) throws -> UInt64 { try value(offset, size: 8, what) }

    /// The `count` bytes at `offset`; the end is computed without overflow.
    func slice(_ offset: UInt64, count: UInt64, _ what: String) throws -> ArraySlice<UInt8> {
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard !overflow, end <= UInt64(bytes.count) else {
            throw BootError.truncated(what: what, needed: overflow ? .max : end, fileSize: bytes.count)
        }
        return bytes[Int(offset)..<Int(end)]
    }

    /// A NUL-terminated string of printable ASCII at `offset`, at most `limit` bytes; nil if there is none.
    func printableString(at offset: UInt64, limit: Int) -> String? {
        guard offset < UInt64(bytes.count) else { return nil }
        let tail = bytes[Int(offset)...].prefix(limit)
        guard let end = tail.firstIndex(of: 0), end > tail.startIndex else { return nil }
        let text = tail[..<end]
        guard text.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        return String(decoding: text, as: UTF8.self)
    }

    private func value(_ offset: UInt64, size: Int, _ what: String) throws -> UInt64 {
        try slice(offset, count: UInt64(size), what).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
