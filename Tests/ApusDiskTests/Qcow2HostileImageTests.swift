@testable import ApusDisk
import Foundation
import Testing

/// Images Apus cannot handle are refused whole at open, with the reason; none is half-opened.
@Suite struct Qcow2HostileImageTests {
    /// A valid 1 MiB image with data in it, and its bytes.
    private func validImage(_ scratch: ScratchDirectory, name: String = "disk.qcow2") throws -> (String, [UInt8]) {
        let path = scratch.file(name)
        let image = try Qcow2Image.create(path: path, size: 1 << 20, clusterBits: 16)
        try image.write(pattern(200_000, seed: 1), at: 4096)
        try image.flush()
        return (path, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    private func refusal(_ bytes: [UInt8], _ scratch: ScratchDirectory, readOnly: Bool = true) throws -> DiskError? {
        let path = scratch.file("hostile-\(UUID().uuidString).qcow2")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Qcow2Image(path: path, readOnly: readOnly)
            return nil
        } catch {
            return error
        }
    }

    private func patched(_ bytes: [UInt8], _ at: Int, _ value: some FixedWidthInteger) -> [UInt8] {
        var copy = bytes
        BigEndian.put(value, &copy, at)
        return copy
    }

    @Test func theValidImageOpens() throws {
        let scratch = try ScratchDirectory()
        let (_, bytes) = try validImage(scratch)
        #expect(try refusal(bytes, scratch) == nil)
    }

    @Test func badHeadersAreRefusedWithTheirReason() throws {
        let scratch = try ScratchDirectory()
        let (_, bytes) = try validImage(scratch)
        let cases: [(String, [UInt8], (DiskError) -> Bool)] = [
            ("magic", patched(bytes, 0, UInt32(0x1234_5678)), { if case .notAnImage = $0 { true } else { false } }),
            ("version", patched(bytes, 4, UInt32(4)), { if case .unsupported = $0 { true } else { false } }),
            ("cluster bits", patched(bytes, 20, UInt32(30)), { if case .corrupt = $0 { true } else { false } }),
            ("encryption", patched(bytes, 32, UInt32(1)), { $0.description.contains("encryption") }),
            ("unknown incompatible bit", patched(bytes, 72, UInt64(1 << 40)),
             { $0.description.contains("unknown incompatible feature bits 0x10000000000") }),
            ("corrupt bit", patched(bytes, 72, UInt64(2)), { $0.description.contains("marked corrupt") }),
            ("dirty bit", patched(bytes, 72, UInt64(1)), { $0.description.contains("dirty") }),
            ("extended L2", patched(bytes, 72, UInt64(16)), { $0.description.contains("subclusters") }),
            ("refcount order", patched(bytes, 96, UInt32(1)), { $0.description.contains("refcount_order") }),
            ("L1 too small", patched(bytes, 36, UInt32(0)), { $0.description.contains("L1 size") }),
            ("L1 outside the file", patched(bytes, 40, UInt64(1 << 40)), { $0.description.contains("L1 table") }),
            ("L1 misaligned", patched(bytes, 40, UInt64(0x10008)), { $0.description.contains("L1 table") }),
            ("refcount table outside", patched(bytes, 48, UInt64(1 << 40)), { $0.description.contains("refcount table") }),
            ("header length", patched(bytes, 100, UInt32(7)), { $0.description.contains("header_length") }),
            ("truncated", Array(bytes[0..<50]), { if case .notAnImage = $0 { true } else { false } }),
            ("empty", [], { if case .notAnImage = $0 { true } else { false } }),
        ]
        for (name, image, matches) in cases {
            let error = try refusal(image, scratch)
            #expect(error.map(matches) == true, "\(name): \(String(describing: error))")
        }
    }

    @Test func corruptTablesAreRefused() throws {
        let scratch = try ScratchDirectory()
        let (path, bytes) = try validImage(scratch)
        let image = try Qcow2Image(path: path, readOnly: true)
        let l1Offset = Int(image.header.l1TableOffset)
        let l2Offset = Int(image.l1[0] & Qcow2Entry.offsetMask)
        let refcountOffset = Int(image.header.refcountTableOffset)
        let cases: [(String, [UInt8])] = [
            ("L1 entry beyond the file", patched(bytes, l1Offset, UInt64(1 << 40) | Qcow2Entry.copied)),
            ("L1 entry reserved bits", patched(bytes, l1Offset, UInt64(l2Offset) | 0x100)),
            ("L2 entry beyond the file", patched(bytes, l2Offset, UInt64(1 << 40) | Qcow2Entry.copied)),
            ("L2 entry misaligned", patched(bytes, l2Offset, UInt64(0x10200) | Qcow2Entry.copied)),
            ("L2 entry reserved bits", patched(bytes, l2Offset, UInt64(0x10000) | 0x2)),
            ("refcount block beyond the file", patched(bytes, refcountOffset, UInt64(1 << 40))),
        ]
        for (name, image) in cases {
            let error = try refusal(image, scratch)
            #expect(error.map { if case .corrupt = $0 { true } else { false } } == true,
                    "\(name): \(String(describing: error))")
        }
    }

    @Test func backingLoopsAndDeepChainsAreRefused() throws {
        let scratch = try ScratchDirectory()
        let base = scratch.file("base.raw")
        try Data(count: 1 << 20).write(to: URL(fileURLWithPath: base))
        // a -> b -> a: make b over base, a over b, then point b at a.
        _ = try Qcow2Image.create(path: scratch.file("b.qcow2"), backingFile: "base.raw", backingFormat: "raw")
        _ = try Qcow2Image.create(path: scratch.file("a.qcow2"), backingFile: "b.qcow2", backingFormat: "qcow2")
        var bImage = Array(try Data(contentsOf: URL(fileURLWithPath: scratch.file("b.qcow2"))))
        // Apus's layout: the backing-format extension at 104 (8 bytes of "raw" padded), the end marker, the name.
        #expect(BigEndian.u32(bImage, 104) == 0xE279_2ACA)
        BigEndian.put(UInt32(5), &bImage, 108)
        bImage.replaceSubrange(112..<117, with: Array("qcow2".utf8))
        let nameOffset = Int(BigEndian.u64(bImage, 8))
        bImage.replaceSubrange(nameOffset..<nameOffset + 7, with: Array("a.qcow2".utf8))
        BigEndian.put(UInt32(7), &bImage, 16)
        try Data(bImage).write(to: URL(fileURLWithPath: scratch.file("b.qcow2")))
        do {
            _ = try Qcow2Image(path: scratch.file("a.qcow2"), readOnly: true)
            Issue.record("a backing loop was opened")
        } catch {
            #expect(error.description.contains("loop"), "\(error)")
        }

        // Fifteen overlays over a base make a chain of sixteen images, the limit; a sixteenth overlay is refused
        // when it is created (and no file is left), and when qemu-img made it, when it is opened.
        var previous = "base.raw"
        for level in 0..<Qcow2Image.maxChainDepth - 1 {
            let name = "level\(level).qcow2"
            _ = try Qcow2Image.create(path: scratch.file(name), backingFile: previous)
            previous = name
        }
        #expect(try Qcow2Image(path: scratch.file(previous), readOnly: true).virtualSize == 1 << 20)
        let tooDeep = scratch.file("too-deep.qcow2")
        do {
            _ = try Qcow2Image.create(path: tooDeep, backingFile: previous)
            Issue.record("a chain deeper than \(Qcow2Image.maxChainDepth) was created")
        } catch {
            #expect(error.description.contains("deeper"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: tooDeep))
        if QemuTools.available {
            let made = try QemuTools.run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", previous, "-F", "qcow2",
                                                      tooDeep])
            #expect(made.status == 0, "\(made.output)")
            do {
                _ = try Qcow2Image(path: tooDeep, readOnly: true)
                Issue.record("a chain deeper than \(Qcow2Image.maxChainDepth) was opened")
            } catch {
                #expect(error.description.contains("deeper"), "\(error)")
            }
        }
    }

    @Test func readOnlyImagesRefuseWritesAndRangesAreChecked() throws {
        let scratch = try ScratchDirectory()
        let (path, _) = try validImage(scratch)
        let image = try Qcow2Image(path: path, readOnly: true)
        #expect(throws: DiskError.readOnly(path: path)) { try image.write([1, 2, 3], at: 0) }
        #expect(throws: DiskError.outOfRange(offset: (1 << 20) - 1, length: 2, size: 1 << 20)) {
            try image.readBytes(at: (1 << 20) - 1, count: 2)
        }
        #expect(throws: DiskError.self) { try image.readBytes(at: UInt64.max, count: 2) }
    }

    @Test func rawImagesReadWriteAndDiscard() throws {
        let scratch = try ScratchDirectory()
        let image = try RawImage.create(path: scratch.file("disk.raw"), size: 1 << 20)
        let bytes = pattern(10_000, seed: 4)
        try image.write(bytes, at: 65_000)
        #expect(try image.readBytes(at: 65_000, count: 10_000) == bytes)
        try image.discard(offset: 65_536, length: 4096)
        #expect(try image.readBytes(at: 65_536, count: 4096) == [UInt8](repeating: 0, count: 4096))
        try image.flush()
        #expect(throws: DiskError.self) { try image.write([1], at: 1 << 20) }
        #expect(throws: DiskError.self) { try RawImage.create(path: scratch.file("disk.raw"), size: 1) }
    }

    @Test func hostileCompressedStreamsAreErrorsNotCrashes() throws {
        var random = 0x1234 as UInt64
        for round in 0..<2000 {
            let input = pattern(Int(random % 600) + 1, seed: UInt64(round))
            random = random &* 6364136223846793005 &+ 1
            _ = try? Inflate.decode(input, capacity: 65536)
        }
        // A stored block, a fixed-Huffman block, checked against known encodings.
        #expect(try Inflate.decode([0x01, 0x03, 0x00, 0xFC, 0xFF, 0x41, 0x42, 0x43], capacity: 10) == Array("ABC".utf8))
        // A fixed-Huffman block with back-references (zlib, raw deflate, level 9).
        let fixed: [UInt8] = [115, 116, 114, 118, 132, 33, 133, 140, 212, 156, 156, 124, 100, 18, 0]
        #expect(try Inflate.decode(fixed, capacity: 100) == Array("ABCABCABCABC hello hello hello".utf8))
        // The capacity bounds the output of a stream that would expand further.
        #expect(try Inflate.decode(fixed, capacity: 5) == Array("ABCAB".utf8))
    }
}
