/// Kernel structs as saved bytes: KVM's state structs are plain C data, so their bytes are the state, and a saved
/// blob of the wrong size is refused rather than half-read.
enum KVMStateBlob {
    static func bytes<T>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    static func load<T>(_ type: T.Type, from bytes: [UInt8]?, name: String, into value: inout T) throws {
        guard let bytes else { throw KVMError.badSavedState("the saved state has no \(name)") }
        guard bytes.count == MemoryLayout<T>.size else {
            throw KVMError.badSavedState("\(name) is \(bytes.count) bytes, this kernel's struct is \(MemoryLayout<T>.size)")
        }
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
    }
}
