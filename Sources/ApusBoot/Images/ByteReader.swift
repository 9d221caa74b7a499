/// Bounds-checked little-endian reads from an untrusted file: every read either succeeds or throws `.truncated`
/// naming what was being read, so a hostile image can never make the loader read past its end.
struct ByteReader {
    let bytes: [UInt8]

    func u8(_ offset: UInt64, _ what: String) throws -> UInt8 {
        UInt8(try value(offset, size: 1, what))
    }

    func u16(_ offset: UInt64, _ what: String) throws -> UInt16 {
        UInt16(try value(offset, size: 2, what))
    }

    func u32(_ offset: UInt64, _ what: String) throws -> UInt32 {
        UInt32(try value(offset, size: 4, what))
    }

    func u64(_ offset: UInt64, _ what: String) throws -> UInt64 {
        try value(offset, size: 8, what)
    }

    /// The `count` bytes at `offset`, checked without overflow.
    func slice(_ offset: UInt64, count: UInt64, _ what: String) throws -> ArraySlice<UInt8> {
        guard offset <= UInt64(bytes.count), count <= UInt64(bytes.count) - offset else {
            throw BootError.truncated(what)
        }
        return bytes[Int(offset)..<Int(offset + count)]
    }

    private func value(_ offset: UInt64, size: Int, _ what: String) throws -> UInt64 {
        let field = try slice(offset, count: UInt64(size), what)
        return field.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
