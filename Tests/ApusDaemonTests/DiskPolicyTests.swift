@testable import ApusDaemon
import ApusAPI
import ApusDisk
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Disks under the image-root policy: the disk and every file of its backing chain inside a root and regular, and
/// an image Apus cannot use refused whole with a message naming the file and the rule.
@Suite struct DiskPolicyTests {
    struct Scratch {
        let base = NSTemporaryDirectory() + "apus-disk-policy-\(UInt32.random(in: 0...UInt32.max))"
        var images: String { base + "/images" }
        var clones: String { base + "/state/clones" }

        init() throws {
            for directory in [images, clones, base + "/outside"] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }

        func policy() throws -> DiskPolicy {
            DiskPolicy(imageRoots: try ImageRoots([images], creating: nil, stateDirectory: base + "/state"),
                       clonesDirectory: ImageRoots.resolve(clones) ?? clones)
        }

        func raw(_ path: String, size: off_t = 1 << 20) -> String {
            #expect(FileManager.default.createFile(atPath: path, contents: Data("RAW".utf8)))
            #expect(truncate(path, size) == 0)
            return path
        }

        /// Overwrites `bytes` at `offset` of `path`.
        func patch(_ path: String, at offset: UInt64, _ bytes: [UInt8]) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: Data(bytes))
            try handle.close()
        }

        func remove() { try? FileManager.default.removeItem(atPath: base) }
    }

    private func refusal(_ policy: DiskPolicy, _ path: String, owned: [String] = []) -> String {
        do {
            _ = try policy.check(DiskSpec(path: path), index: 0, ownedOverlays: owned)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func rawAndQcow2ImagesInsideARootAreAccepted() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let policy = try scratch.policy()
        let raw = scratch.raw(scratch.images + "/disk.raw")
        let checked = try policy.check(DiskSpec(path: raw), index: 0, ownedOverlays: [])
        #expect(checked.format == "raw")
        #expect(checked.path == ImageRoots.resolve(raw))
        // A relative backing name resolves against the overlay's directory, inside the root.
        _ = try Qcow2Image.create(path: scratch.images + "/overlay.qcow2", backingFile: "disk.raw", backingFormat: "raw")
        #expect(try policy.check(DiskSpec(path: scratch.images + "/overlay.qcow2"), index: 0, ownedOverlays: []).format == "qcow2")
    }

    @Test func everyFileOfTheBackingChainMustBeInsideARoot() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let policy = try scratch.policy()
        let outside = scratch.raw(scratch.base + "/outside/secret.raw")
        _ = try Qcow2Image.create(path: scratch.images + "/escape.qcow2", backingFile: outside, backingFormat: "raw")
        let escape = refusal(policy, scratch.images + "/escape.qcow2")
        #expect(escape.contains("disk 0's backing file '\(outside)' is refused: it is outside the image roots"), "\(escape)")
        // Two levels down, through a relative name climbing out.
        _ = try Qcow2Image.create(path: scratch.images + "/middle.qcow2", backingFile: "../outside/secret.raw", backingFormat: "raw")
        _ = try Qcow2Image.create(path: scratch.images + "/top.qcow2", backingFile: "middle.qcow2", backingFormat: "qcow2")
        #expect(refusal(policy, scratch.images + "/top.qcow2").contains("outside the image roots"))
        // A backing file that became a FIFO is refused without blocking.
        let base = scratch.raw(scratch.images + "/base.raw")
        _ = try Qcow2Image.create(path: scratch.images + "/over-fifo.qcow2", backingFile: base, backingFormat: "raw")
        try FileManager.default.removeItem(atPath: base)
        #expect(mkfifo(base, 0o600) == 0)
        #expect(refusal(policy, scratch.images + "/over-fifo.qcow2").contains("is a FIFO, not a regular file"))
        // A missing backing file.
        let gone = scratch.raw(scratch.images + "/gone.raw")
        _ = try Qcow2Image.create(path: scratch.images + "/orphan.qcow2", backingFile: gone, backingFormat: "raw")
        try FileManager.default.removeItem(atPath: gone)
        #expect(refusal(policy, scratch.images + "/orphan.qcow2").contains("No such file or directory"))
    }

    @Test func imagesApusCannotUseAreRefusedWhole() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let policy = try scratch.policy()
        func fresh(_ name: String) throws -> String {
            let path = scratch.images + "/" + name
            _ = try Qcow2Image.create(path: path, size: 1 << 20)
            return path
        }
        let encrypted = try fresh("encrypted.qcow2")
        try scratch.patch(encrypted, at: 32, [0, 0, 0, 1])  // crypt_method AES
        #expect(refusal(policy, encrypted).contains("uses encryption"))
        let unknown = try fresh("unknown.qcow2")
        try scratch.patch(unknown, at: 72, [0, 0, 0, 0, 0, 0, 0, 0x40])  // incompatible feature bit 6
        #expect(refusal(policy, unknown).contains("which Apus does not support"), "\(refusal(policy, unknown))")
        let corrupt = try fresh("corrupt.qcow2")
        try scratch.patch(corrupt, at: 40, [0, 0, 0, 1, 0, 0, 0, 0])  // L1 table far beyond the file
        #expect(refusal(policy, corrupt).contains("is corrupt"), "\(refusal(policy, corrupt))")
    }

    @Test func linksFIFOsAndOtherClonesOverlaysAreRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let policy = try scratch.policy()
        try FileManager.default.createSymbolicLink(atPath: scratch.images + "/zero", withDestinationPath: "/dev/zero")
        #expect(refusal(policy, scratch.images + "/zero").contains("it resolves to '/dev/zero'"))
        #expect(mkfifo(scratch.images + "/fifo", 0o600) == 0)
        #expect(refusal(policy, scratch.images + "/fifo").contains("is a FIFO, not a regular file"))
        #expect(refusal(policy, "/etc/passwd").contains("outside the image roots"))
        #expect(refusal(policy, "disk.raw").contains("must be absolute"))
        let overlay = scratch.raw(scratch.clones + "/someone.disk0.qcow2")
        let canonical = ImageRoots.resolve(overlay) ?? overlay
        #expect(refusal(policy, overlay).contains("clone overlay apusd made for another VM"))
        #expect(refusal(policy, overlay, owned: [canonical]) == "accepted")
    }
}
