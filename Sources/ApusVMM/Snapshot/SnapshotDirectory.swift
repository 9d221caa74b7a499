import ApusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A suspended machine on disk: `machine.json` (the manifest) and one memory file per RAM region.
///
/// Memory files carry a fresh generation in their names and the manifest is replaced last, atomically, so a crash at
/// any moment leaves either the previous complete snapshot or the new one. Files of older generations are removed
/// only after the new manifest is durable.
enum SnapshotDirectory {
    static let manifestName = "machine.json"
    /// All-zero chunks become holes, so a mostly idle 256 MiB guest costs little disk and time.
    static let chunkSize = 64 << 10

    static func write(_ snapshot: MachineSnapshot, memory: GuestMemory, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let generation = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        var manifest = snapshot
        manifest.memory = []
        for (index, region) in memory.regions.enumerated() {
            let name = "memory-\(generation)-\(index).bin"
            try writeRegion(region, to: directory + "/" + name)
            manifest.memory.append(.init(start: region.range.start.rawValue, size: region.range.size, file: name))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.replace(directory + "/" + manifestName, with: try encoder.encode(manifest))
        let keep = Set(manifest.memory.map(\.file))
        for stale in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where stale.hasPrefix("memory-") && !keep.contains(stale) {
            unlink(directory + "/" + stale)
        }
    }

    static func read(from directory: String) throws -> MachineSnapshot {
        let path = directory + "/" + manifestName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SnapshotError.io(path: path, operation: "read", errno: ENOENT)
        }
        // The version first: an older manifest is refused as such, before its layout can fail to decode.
        struct VersionProbe: Decodable { var formatVersion: Int }
        if let probe = try? JSONDecoder().decode(VersionProbe.self, from: data),
           probe.formatVersion != MachineSnapshot.formatVersion {
            throw SnapshotError.unsupportedVersion(probe.formatVersion)
        }
        let snapshot: MachineSnapshot
        do {
            snapshot = try JSONDecoder().decode(MachineSnapshot.self, from: data)
        } catch {
            throw SnapshotError.corrupt("\(path) is not a machine manifest (\(error))")
        }
        guard snapshot.vcpus.count == snapshot.platform.vcpuCount else {
            throw SnapshotError.corrupt("it lists \(snapshot.vcpus.count) vCPUs for a \(snapshot.platform.vcpuCount)-vCPU machine")
        }
        return snapshot
    }

    /// Fills freshly created guest memory from the snapshot's files, checking they describe exactly its regions.
    static func loadMemory(_ snapshot: MachineSnapshot, into memory: GuestMemory, from directory: String) throws {
        guard snapshot.memory.count == memory.regions.count else {
            throw SnapshotError.corrupt("it has \(snapshot.memory.count) memory files for \(memory.regions.count) regions")
        }
        for (file, region) in zip(snapshot.memory, memory.regions) {
            guard file.start == region.range.start.rawValue, file.size == region.range.size,
                  !file.file.contains("/") else {
                throw SnapshotError.corrupt("memory file \(file.file) does not match the machine's RAM layout")
            }
            let path = directory + "/" + file.file
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SnapshotError.io(path: path, operation: "open", errno: errno) }
            defer { close(fd) }
            // Through withWritableBytes, so whoever tracks writes (a decode cache, dirty-page tracking) sees them.
            try memory.withWritableBytes(at: region.range.start, count: Int(region.range.size)) { bytes in
                try DurableFile.readAll(fd, into: bytes, path: path)
            }
        }
    }

    private static let zeroChunk = [UInt8](repeating: 0, count: chunkSize)

    private static func isZero(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard let base = chunk.baseAddress else { return true }
        return zeroChunk.withUnsafeBytes { zeros in zeros.baseAddress.map { memcmp($0, base, chunk.count) == 0 } ?? false }
    }

    private static func writeRegion(_ region: MemoryRegion, to path: String) throws {
        try DurableFile.write(path) { fd in
            let size = Int(region.range.size)
            var offset = 0
            while offset < size {
                let length = min(chunkSize, size - offset)
                let chunk = UnsafeRawBufferPointer(start: region.hostBase + offset, count: length)
                if isZero(chunk) {
                    guard lseek(fd, off_t(offset + length), SEEK_SET) >= 0 else {
                        throw SnapshotError.io(path: path, operation: "seek in", errno: errno)
                    }
                } else {
                    try DurableFile.writeAll(fd, chunk, path: path)
                }
                offset += length
            }
            guard ftruncate(fd, off_t(size)) == 0 else {
                throw SnapshotError.io(path: path, operation: "size", errno: errno)
            }
        }
    }
}
