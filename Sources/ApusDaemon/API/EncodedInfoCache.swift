import ApusAPI
import NIOCore
import Synchronization

/// The JSON of each VM's info as last encoded, handed out again while the info is unchanged: clients poll VMs far
/// more often than VMs change, and encoding (dates above all) is most of what a hot read costs. A hit is decided by
/// comparing the whole VMInfo with the one encoded, so the bytes are always exactly what JSONResponse would encode now.
final class EncodedInfoCache: Sendable {
    private let entries = Mutex<[String: Entry]>([:])

    private struct Entry: @unchecked Sendable {
        // ByteBuffer is a value type whose storage is never mutated once shared; it is not marked Sendable-safe for
        // every use, so the entry says so itself.
        var info: VMInfo
        var json: ByteBuffer
    }

    /// The body JSONResponse makes of `info` (its JSON and a newline).
    func body(for info: VMInfo) throws -> ByteBuffer {
        var buffer = try encoded(info)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    /// The body JSONResponse makes of `infos` as an array, from each element's cached JSON; entries of VMs not in
    /// the list (undefined since) are dropped.
    func listBody(for infos: [VMInfo]) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, info) in infos.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            var element = try encoded(info)
            buffer.writeBuffer(&element)
        }
        buffer.writeString("]\n")
        let present = Set(infos.map(\.id))
        entries.withLock { entries in
            if entries.count > present.count { entries = entries.filter { present.contains($0.key) } }
        }
        return buffer
    }

    private func encoded(_ info: VMInfo) throws -> ByteBuffer {
        if let hit = entries.withLock({ $0[info.id] }), hit.info == info { return hit.json }
        let json = ByteBuffer(bytes: try JSONResponse.encoder.encode(info))
        entries.withLock { $0[info.id] = Entry(info: info, json: json) }
        return json
    }
}
