@testable import ApusDaemon
import ApusVMM
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The boot-file policy: every way a client used to make apusd read a file it should not is refused, naming the rule.
@Suite struct ImageRootsTests {
    private struct Scratch {
        let base: String
        var root: String { base + "/images" }
        var state: String { base + "/state" }

        init() throws {
            base = NSTemporaryDirectory() + "apus-roots-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: base + "/images", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/state", withIntermediateDirectories: true)
        }

        func roots() throws -> ImageRoots { try ImageRoots([root], creating: nil, stateDirectory: state) }
        func remove() { try? FileManager.default.removeItem(atPath: base) }
    }

    private func refusal(_ roots: ImageRoots, _ path: String, limit: UInt64 = 64 << 20) -> String {
        do {
            _ = try roots.open(path, role: "kernel", limit: limit)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func filesOutsideTheRootsAreRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let roots = try scratch.roots()
        for path in ["/etc/shadow", "/etc/passwd", "/dev/zero", "/dev/urandom", "/proc/self/environ"] {
            let message = refusal(roots, path)
            #expect(message.contains("outside the image roots"), "\(path): \(message)")
            #expect(message.contains("--image-root"), "\(path): \(message)")
        }
        // ".." cannot climb out either: the path is resolved before it is compared.
        #expect(refusal(roots, scratch.root + "/../../../etc/passwd").contains("outside the image roots"))
        #expect(refusal(roots, "relative/kernel").contains("must be absolute"))
    }

    @Test func aSymlinkInsideARootPointingOutsideIsRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let roots = try scratch.roots()
        for (name, target) in [("shadow", "/etc/shadow"), ("zero", "/dev/zero"), ("environ", "/proc/self/environ")] {
            try FileManager.default.createSymbolicLink(atPath: scratch.root + "/" + name, withDestinationPath: target)
            let message = refusal(roots, scratch.root + "/" + name)
            #expect(message.contains("outside the image roots") && message.contains("it resolves to"), "\(name): \(message)")
        }
        // A link to a file inside the root is fine: it is opened by its resolved path.
        try Data("kernel bytes".utf8).write(to: URL(fileURLWithPath: scratch.root + "/real"))
        try FileManager.default.createSymbolicLink(atPath: scratch.root + "/alias", withDestinationPath: "real")
        let file = try roots.open(scratch.root + "/alias", role: "kernel", limit: 1 << 20)
        #expect(file.path.hasSuffix("/real"))
        #expect(try file.readAll() == Array("kernel bytes".utf8))
    }

    @Test func aFIFOADirectoryAndASocketInARootAreRefusedWithoutBlocking() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let roots = try scratch.roots()
        #expect(mkfifo(scratch.root + "/fifo", 0o600) == 0)
        let fifo = refusal(roots, scratch.root + "/fifo")
        #expect(fifo.contains("is a FIFO, not a regular file"), "\(fifo)")
        try FileManager.default.createDirectory(atPath: scratch.root + "/dir", withIntermediateDirectories: false)
        #expect(refusal(roots, scratch.root + "/dir").contains("is a directory, not a regular file"))
        #expect(refusal(roots, scratch.root).contains("outside the image roots"), "the root itself is no image")
    }

    @Test func sizesAreCheckedBeforeReading() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let roots = try scratch.roots()
        let big = scratch.root + "/big"
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        #expect(truncate(big, 65 << 20) == 0)  // sparse: nothing is written
        let message = refusal(roots, big, limit: 64 << 20)
        #expect(message.contains("larger than guest memory (64 MiB)"), "\(message)")
        #expect(FileManager.default.createFile(atPath: scratch.root + "/empty", contents: nil))
        #expect(refusal(roots, scratch.root + "/empty").contains("is empty"))
        #expect(refusal(roots, scratch.root + "/missing").contains("No such file or directory"))
    }

    @Test func theDescriptorCheckedIsTheOneRead() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let roots = try scratch.roots()
        let path = scratch.root + "/kernel"
        try Data("original".utf8).write(to: URL(fileURLWithPath: path))
        let file = try roots.open(path, role: "kernel", limit: 1 << 20)
        // Swapping the name for a link to a secret after the check does not change what is read.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/etc/passwd")
        #expect(try file.readAll() == Array("original".utf8))
    }

    @Test func aRootMayNotHoldTheStateDirectory() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        #expect(throws: DaemonError.self) { try ImageRoots([scratch.base], creating: nil, stateDirectory: scratch.state) }
        #expect(throws: DaemonError.self) { try ImageRoots([scratch.base + "/nope"], creating: nil, stateDirectory: scratch.state) }
        let created = scratch.base + "/default-images"
        let roots = try ImageRoots([created], creating: created, stateDirectory: scratch.state)
        #expect(roots.directories.count == 1)
        var status = stat()
        #expect(stat(created, &status) == 0 && status.st_mode & 0o777 == 0o700)
    }
}
