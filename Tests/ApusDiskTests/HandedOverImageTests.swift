@testable import ApusDisk
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Images built on descriptors another process opened (apusd's workers): the backing chain comes from the descriptors
/// in order, never from a path, and anything but exactly the chain the header asks for is refused.
@Suite struct HandedOverImageTests {
    /// A raw base with data, and a qcow2 overlay on it (by a relative name) with data of its own.
    private func chain(_ scratch: ScratchDirectory) throws -> (base: String, overlay: String) {
        let base = scratch.file("base.raw")
        let raw = try RawImage.create(path: base, size: 1 << 20)
        try raw.write(pattern(8192, seed: 1), at: 0)
        try raw.flush()
        let overlay = scratch.file("overlay.qcow2")
        let image = try Qcow2Image.create(path: overlay, backingFile: "base.raw", backingFormat: "raw")
        try image.write(pattern(4096, seed: 2), at: 65536)
        try image.flush()
        return (base, overlay)
    }

    private func opened(_ path: String, writable: Bool = false) -> HandedOverDiskFile {
        HandedOverDiskFile(path: path, descriptor: open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC))
    }

    @Test func anOverlayReadsThroughItsHandedOverBackingFile() throws {
        let scratch = try ScratchDirectory()
        let (base, overlay) = try chain(scratch)
        let files = [opened(overlay, writable: true), opened(base)]
        defer { for file in files { close(file.descriptor) } }
        // The base moves away: a chain resolved by name would fail; the handed-over one never looks.
        try FileManager.default.moveItem(atPath: base, toPath: scratch.file("moved.raw"))

        let image = try DiskImages.open(handedOver: files, readOnly: false)
        #expect(image.formatName == "qcow2")
        #expect(try image.readBytes(at: 0, count: 8192) == pattern(8192, seed: 1))
        #expect(try image.readBytes(at: 65536, count: 4096) == pattern(4096, seed: 2))
        try image.write(pattern(512, seed: 3), at: 131072)
        try image.flush()
        let again = try DiskImages.open(handedOver: files, readOnly: true)
        #expect(try again.readBytes(at: 131072, count: 512) == pattern(512, seed: 3))
    }

    @Test func aMissingBackingDescriptorIsRefused() throws {
        let scratch = try ScratchDirectory()
        let (_, overlay) = try chain(scratch)
        let files = [opened(overlay)]
        defer { for file in files { close(file.descriptor) } }
        #expect {
            _ = try DiskImages.open(handedOver: files, readOnly: true)
        } throws: { error in
            "\(error)".contains("its backing file base.raw was not handed over")
        }
    }

    @Test func aDescriptorBeyondTheChainIsRefused() throws {
        let scratch = try ScratchDirectory()
        let (base, overlay) = try chain(scratch)
        let files = [opened(base), opened(overlay)]
        defer { for file in files { close(file.descriptor) } }
        // A raw image has no backing file: the second descriptor is not part of what its header asks for.
        #expect {
            _ = try DiskImages.open(handedOver: files, readOnly: true)
        } throws: { error in
            "\(error)".contains("2 files were handed over for a chain of 1")
        }
    }

    @Test func aWritableImageNeedsADescriptorOpenForWriting() throws {
        let scratch = try ScratchDirectory()
        let (base, overlay) = try chain(scratch)
        let files = [opened(overlay), opened(base)]
        defer { for file in files { close(file.descriptor) } }
        #expect {
            _ = try DiskImages.open(handedOver: files, readOnly: false)
        } throws: { error in
            "\(error)".contains("not open for writing")
        }
        #expect(try DiskImages.open(handedOver: files, readOnly: true).virtualSize == 1 << 20)
    }

    @Test func aClosedDescriptorIsAnErrorNotACrash() throws {
        #expect(throws: DiskError.self) {
            _ = try DiskImages.open(handedOver: [HandedOverDiskFile(path: "gone", descriptor: 1_000_000)], readOnly: true)
        }
        #expect(throws: DiskError.self) { _ = try DiskImages.open(handedOver: [], readOnly: true) }
    }
}
