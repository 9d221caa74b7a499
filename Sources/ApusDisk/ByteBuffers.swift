/// Typed-throwing access to an array's bytes: the standard library's `withUnsafe(Mutable)Bytes` on arrays are
/// `rethrows`, which widens a `DiskError` to `any Error`.
extension Array where Element == UInt8 {
    mutating func withMutableBytes(_ body: (UnsafeMutableRawBufferPointer) throws(DiskError) -> Void) throws(DiskError) {
        var failure: DiskError?
        withUnsafeMutableBytes { buffer in
            do throws(DiskError) { try body(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func withBytes(_ body: (UnsafeRawBufferPointer) throws(DiskError) -> Void) throws(DiskError) {
        var failure: DiskError?
        withUnsafeBytes { buffer in
            do throws(DiskError) { try body(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
