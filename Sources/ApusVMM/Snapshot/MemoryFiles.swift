import ApusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One generation of a snapshot's memory files, one per RAM region, being written: all of memory at once (a suspend,
/// a live snapshot's first round), then single pages again as they change (a live snapshot's later rounds, copied
/// while the guest runs). Nothing names the files until `SnapshotDirectory.commit` writes the manifest, so a failure
/// at any point leaves the previous snapshot as it was; `discard` removes them.
final class MemoryFiles {
    /// All-zero chunks become holes, so a mostly idle 256 MiB guest costs little disk and time.
    static let chunkSize = 64 << 10
    static let pageSize = 4096
    let directory: String
    let entries: [MachineSnapshot.MemoryFile]
    private var descriptors: [Int32]

    init(memory: GuestMemory, directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let generation = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        self.directory = directory
        entries = memory.regions.enumerated().map { index, region in
            .init(start: region.range.start.rawValue, size: region.range.size, file: "memory-\(generation)-\(index).bin")
        }
        descriptors = []
        for entry in entries {
            let path = directory + "/" + entry.file
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let error = SnapshotError.io(path: path, operation: "create", errno: errno)
                discard()
                throw error
            }
            descriptors.append(fd)
            guard ftruncate(fd, off_t(entry.size)) == 0 else {
                let error = SnapshotError.io(path: path, operation: "size", errno: errno)
                discard()
                throw error
            }
        }
    }

    deinit { closeAll() }

    /// Copies every region of `memory`; all-zero chunks are left as the holes the files were created with.
    func copyEverything(from memory: GuestMemory) throws {
        for (index, region) in memory.regions.enumerated() {
            let size = Int(region.range.size)
            var offset = 0
            while offset < size {
                let length = min(Self.chunkSize, size - offset)
                let chunk = UnsafeRawBufferPointer(start: region.hostBase + offset, count: length)
                if !Self.isZero(chunk) { try write(chunk, region: index, at: offset) }
                offset += length
            }
        }
    }

    /// Copies the 4 KiB pages at `pages` (guest-physical, page-aligned) of `memory` again.
    func copy(pages: [GuestAddress], from memory: GuestMemory) throws {
        for page in pages {
            guard let index = memory.regions.firstIndex(where: { $0.range.contains(page) }) else {
                throw VMMError.invalidState("page \(page) is not guest RAM")
            }
            let region = memory.regions[index]
            let offset = Int(page.rawValue - region.range.start.rawValue)
            try write(UnsafeRawBufferPointer(start: region.hostBase + offset, count: Self.pageSize), region: index, at: offset)
        }
    }

    /// Makes the files durable and closes them.
    func finish() throws {
        for (fd, entry) in zip(descriptors, entries) where fsync(fd) != 0 {
            throw SnapshotError.io(path: directory + "/" + entry.file, operation: "flush", errno: errno)
        }
        closeAll()
    }

    /// Closes and removes the files (a snapshot that failed half-way).
    func discard() {
        closeAll()
        for entry in entries { unlink(directory + "/" + entry.file) }
    }

    private func closeAll() {
        for fd in descriptors { close(fd) }
        descriptors = []
    }

    private func write(_ bytes: UnsafeRawBufferPointer, region index: Int, at offset: Int) throws {
        let path = directory + "/" + entries[index].file
        var done = 0
        while done < bytes.count {
            let written = pwrite(descriptors[index], bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw SnapshotError.io(path: path, operation: "write", errno: written < 0 ? errno : EIO) }
            done += written
        }
    }

    private static let zeroChunk = [UInt8](repeating: 0, count: chunkSize)

    private static func isZero(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard let base = chunk.baseAddress else { return true }
        return zeroChunk.withUnsafeBytes { zeros in zeros.baseAddress.map { memcmp($0, base, chunk.count) == 0 } ?? false }
    }
}
