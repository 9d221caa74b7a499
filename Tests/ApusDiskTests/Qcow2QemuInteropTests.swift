import ApusDisk
import Foundation
import Testing

/// Images Apus writes pass `qemu-img check` and equal (`qemu-img compare`) a raw file holding the same data;
/// images qemu-img and qemu-io make read back correctly in Apus.
@Suite(.enabled(if: QemuTools.available, "qemu-img and qemu-io (Debian qemu-utils) are not installed"))
struct Qcow2QemuInteropTests {
    static let size: UInt64 = 8 << 20

    /// Writes of every shape: inside one cluster, across clusters, whole clusters, at the very end.
    static func writes(clusterSize: UInt64) -> [(offset: UInt64, length: Int)] {
        [(0, 512), (100, 3000), (clusterSize - 7, 20), (3 * clusterSize, Int(clusterSize)),
         (5 * clusterSize + 1, Int(2 * clusterSize)), (size - 4096, 4096), (2 << 20, 300_000), (100, 50)]
    }

    private func apply(_ writes: [(offset: UInt64, length: Int)], to image: any DiskImage,
                       reference: inout [UInt8], seed: UInt64) throws {
        for (number, write) in writes.enumerated() {
            let bytes = pattern(write.length, seed: seed + UInt64(number))
            try image.write(bytes, at: write.offset)
            reference.replaceSubrange(Int(write.offset)..<Int(write.offset) + write.length, with: bytes)
        }
    }

    private func expectClean(_ path: String) throws {
        let check = try QemuTools.run("qemu-img", ["check", path])
        #expect(check.status == 0, "qemu-img check \(path): \(check.output)")
    }

    private func expectSame(_ reference: [UInt8], as image: String, _ scratch: ScratchDirectory) throws {
        let raw = scratch.file("reference-\(UUID().uuidString).raw")
        try Data(reference).write(to: URL(fileURLWithPath: raw))
        let compare = try QemuTools.run("qemu-img", ["compare", "-f", "raw", raw, image])
        #expect(compare.status == 0, "qemu-img compare: \(compare.output)")
    }

    @Test(arguments: [UInt32(16), 12])
    func anImageApusCreatesAndWritesIsValid(clusterBits: UInt32) throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("disk.qcow2")
        let image = try Qcow2Image.create(path: path, size: Self.size, clusterBits: clusterBits)
        var reference = [UInt8](repeating: 0, count: Int(Self.size))
        try apply(Self.writes(clusterSize: 1 << UInt64(clusterBits)), to: image, reference: &reference, seed: 1)
        try image.flush()
        #expect(try image.readBytes(at: 0, count: Int(Self.size)) == reference)
        try expectClean(path)
        try expectSame(reference, as: path, scratch)
        // And a fresh open reads the same.
        #expect(try Qcow2Image(path: path, readOnly: true).readBytes(at: 0, count: Int(Self.size)) == reference)
    }

    @Test(arguments: ["raw", "qcow2"])
    func anOverlayKeepsItsBaseUnchanged(baseFormat: String) throws {
        let scratch = try ScratchDirectory()
        var reference = pattern(Int(Self.size), seed: 99)
        let baseRaw = scratch.file("base.raw")
        try Data(reference).write(to: URL(fileURLWithPath: baseRaw))
        var base = baseRaw
        if baseFormat == "qcow2" {
            base = scratch.file("base.qcow2")
            #expect(try QemuTools.run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", baseRaw, base]).status == 0)
        }
        let baseBefore = try Data(contentsOf: URL(fileURLWithPath: base))
        let overlayPath = scratch.file("clone.qcow2")
        let overlay = try Qcow2Image.create(path: overlayPath, backingFile: "base.\(baseFormat)")
        #expect(overlay.virtualSize == Self.size)
        #expect(try overlay.readBytes(at: 0, count: Int(Self.size)) == reference, "an empty overlay shows its base")
        try apply(Self.writes(clusterSize: 65536), to: overlay, reference: &reference, seed: 7)
        try overlay.discard(offset: 6 << 20, length: 1 << 20)
        reference.replaceSubrange((6 << 20)..<(7 << 20), with: [UInt8](repeating: 0, count: 1 << 20))
        try overlay.flush()
        #expect(try overlay.readBytes(at: 0, count: Int(Self.size)) == reference)
        try expectClean(overlayPath)
        try expectSame(reference, as: overlayPath, scratch)
        #expect(try Data(contentsOf: URL(fileURLWithPath: base)) == baseBefore, "the base image was not touched")
        let info = try QemuTools.run("qemu-img", ["info", overlayPath])
        #expect(info.output.contains("backing file: base.\(baseFormat)"), "\(info.output)")
    }

    /// The file as a crash would leave it, before and after a flush: consistent, at worst leaking clusters; the
    /// unflushed data may be missing (as on a write-back disk), the flushed data is there.
    @Test func anUnflushedImageIsConsistentAndLeaksAtWorst() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("disk.qcow2")
        let image = try Qcow2Image.create(path: path, size: Self.size)
        try image.write(pattern(3 << 20, seed: 11), at: 1 << 20)
        try image.flush()
        let flushed = try image.readBytes(at: 0, count: Int(Self.size))
        try image.write(pattern(2 << 20, seed: 12), at: 5 << 20)  // new clusters, not flushed
        try image.write(pattern(4096, seed: 13), at: 2 << 20)     // in place, not flushed
        let check = try QemuTools.run("qemu-img", ["check", path])
        #expect(check.status == 0 || check.status == 3, "\(check.output)")
        #expect(!check.output.contains("ERROR"), "\(check.output)")
        // Another reader of the file now sees the flushed mappings; the new clusters are not reachable yet.
        let crashView = try Qcow2Image(path: path, readOnly: true)
        #expect(try crashView.readBytes(at: 5 << 20, count: 2 << 20) == Array(flushed[(5 << 20)..<(7 << 20)]))
        try image.flush()
        let after = try Qcow2Image(path: path, readOnly: true)
        #expect(try after.readBytes(at: 0, count: Int(Self.size)) == image.readBytes(at: 0, count: Int(Self.size)))
        try expectClean(path)
    }

    @Test func imagesQemuWritesReadBackInApus() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("qemu.qcow2")
        #expect(try QemuTools.run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", path,
                                               "\(Self.size)"]).status == 0)
        let io = try QemuTools.run("qemu-io", ["-f", "qcow2", path,
                                               "-c", "write -P 0xab 0 64k", "-c", "write -P 0x11 100k 5k",
                                               "-c", "write -P 0x77 1M 256k", "-c", "write -z 1M 128k",
                                               "-c", "discard 1200k 64k"])
        #expect(io.status == 0, "\(io.output)")
        var reference = [UInt8](repeating: 0, count: Int(Self.size))
        reference.replaceSubrange(0..<65536, with: [UInt8](repeating: 0xAB, count: 65536))
        reference.replaceSubrange(102_400..<107_520, with: [UInt8](repeating: 0x11, count: 5120))
        reference.replaceSubrange((1 << 20)..<((1 << 20) + 262_144), with: [UInt8](repeating: 0x77, count: 262_144))
        reference.replaceSubrange((1 << 20)..<((1 << 20) + 131_072), with: [UInt8](repeating: 0, count: 131_072))
        reference.replaceSubrange(1_228_800..<1_294_336, with: [UInt8](repeating: 0, count: 65536))
        let image = try Qcow2Image(path: path, readOnly: false)
        #expect(try image.readBytes(at: 0, count: Int(Self.size)) == reference)
        // Apus writes over qemu's data, zero clusters and holes.
        try apply(Self.writes(clusterSize: 4096) + [(1 << 20, 4096), (1_230_000, 10)], to: image,
                  reference: &reference, seed: 3)
        try image.flush()
        try expectClean(path)
        try expectSame(reference, as: path, scratch)
    }

    @Test func compressedClustersReadAndCopyOnWrite() throws {
        let scratch = try ScratchDirectory()
        // Compressible but not trivial: runs of a pattern with text.
        var reference = [UInt8]()
        while reference.count < Int(Self.size) {
            reference += Array("cluster \(reference.count) of the Apus compressed-image test; ".utf8)
            reference += pattern(Int(reference.count % 97), seed: UInt64(reference.count))
        }
        reference = Array(reference[0..<Int(Self.size)])
        let raw = scratch.file("plain.raw")
        try Data(reference).write(to: URL(fileURLWithPath: raw))
        let path = scratch.file("compressed.qcow2")
        #expect(try QemuTools.run("qemu-img", ["convert", "-c", "-f", "raw", "-O", "qcow2", raw, path]).status == 0)
        let image = try Qcow2Image(path: path, readOnly: false)
        #expect(try image.readBytes(at: 0, count: Int(Self.size)) == reference)
        try apply(Self.writes(clusterSize: 65536), to: image, reference: &reference, seed: 5)
        try image.discard(offset: 4 << 20, length: 256 << 10)
        reference.replaceSubrange((4 << 20)..<((4 << 20) + (256 << 10)), with: [UInt8](repeating: 0, count: 256 << 10))
        try image.flush()
        #expect(try image.readBytes(at: 0, count: Int(Self.size)) == reference)
        try expectClean(path)
        try expectSame(reference, as: path, scratch)
    }
}
