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

    static func write(_ snapshot: MachineSnapshot, memory: GuestMemory, to directory: String) throws {
        let files = try MemoryFiles(memory: memory, directory: directory)
        do {
            try files.copyEverything(from: memory)
            try files.finish()
        } catch {
            files.discard()
            throw error
        }
        try commit(snapshot, memoryFiles: files)
    }

    /// Writes the manifest naming `memoryFiles` — from this moment the snapshot is the new one — then removes the
    /// memory files of every other generation.
    static func commit(_ snapshot: MachineSnapshot, memoryFiles: MemoryFiles) throws {
        var manifest = snapshot
        manifest.memory = memoryFiles.entries
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.replace(memoryFiles.directory + "/" + manifestName, with: try encoder.encode(manifest))
        let keep = Set(manifest.memory.map(\.file))
        for stale in (try? FileManager.default.contentsOfDirectory(atPath: memoryFiles.directory)) ?? []
        where stale.hasPrefix("memory-") && !keep.contains(stale) {
            unlink(memoryFiles.directory + "/" + stale)
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

}
