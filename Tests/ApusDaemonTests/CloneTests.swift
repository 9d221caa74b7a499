@testable import ApusDaemon
import ApusAPI
import ApusDisk
import Foundation
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Clones without a guest: the registry makes overlays over the template's image, protects the template while clones
/// exist, deletes a clone's overlays with it, leaves nothing behind when a clone fails, and brings it all back after a
/// restart (sweeping overlays no record owns).
@Suite struct CloneTests {
    struct Scratch {
        let base = NSTemporaryDirectory() + "apus-clones-\(UInt32.random(in: 0...UInt32.max))"
        var images: String { base + "/images" }
        let store: StateDirectory

        init() throws {
            try FileManager.default.createDirectory(atPath: base + "/images", withIntermediateDirectories: true)
            store = try StateDirectory(root: base + "/state")
        }

        func registry() throws -> VMRegistry {
            let roots = try ImageRoots([images], creating: nil, stateDirectory: store.root)
            return VMRegistry(store: store, events: EventLog(),
                              boot: BootPreparation(imageRoots: roots, clonesDirectory: store.clonesDirectory),
                              budget: MemoryBudget(limitMiB: nil), logger: Logger(label: "test"))
        }

        /// A sparse raw image with `marker` at offset 0.
        func rawImage(_ name: String, size: UInt64 = 16 << 20, marker: String = "BASE") throws -> String {
            let path = images + "/" + name
            try Data(marker.utf8).write(to: URL(fileURLWithPath: path))
            #expect(truncate(path, off_t(size)) == 0)
            return ImageRoots.resolve(path) ?? path
        }

        var cloneFiles: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: store.clonesDirectory)) ?? []).sorted()
        }

        func remove() { try? FileManager.default.removeItem(atPath: base) }
    }

    static func message(_ body: () async throws -> Any) async -> String {
        do {
            _ = try await body()
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func aCloneGetsAnOverlayOverTheTemplateImageAndSharesReadOnlyDisks() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let registry = try scratch.registry()
        let base = try scratch.rawImage("root.raw")
        let shared = try scratch.rawImage("data.raw", marker: "SHARED")
        let template = try registry.define(VMDefinition(name: "template", boot: .guest("hello"),
                                                        disks: [DiskSpec(path: base), DiskSpec(path: shared, readOnly: true)]))
        let clone = try await registry.clone(template, as: "c1", operationID: "op-1")
        let info = clone.info
        #expect(info.clonedFrom == template.id)
        #expect(info.state == .inactive)
        #expect(info.definition.memoryMiB == template.definition.memoryMiB)
        #expect(info.definition.boot == .guest("hello"))
        let overlay = info.definition.disks[0].path
        #expect(overlay.hasPrefix(ImageRoots.resolve(scratch.store.clonesDirectory) ?? "?"))
        #expect(info.definition.disks[0].readOnly == false)
        #expect(info.definition.disks[1] == DiskSpec(path: shared, readOnly: true), "read-only disks are shared")
        #expect(scratch.cloneFiles == ["\(clone.id).disk0.qcow2"])

        // The overlay reads the template's bytes and keeps its own writes; the base is untouched.
        let image = try Qcow2Image(path: overlay, readOnly: false)
        #expect(image.backingFileName == base)
        #expect(image.virtualSize == 16 << 20)
        #expect(try image.readBytes(at: 0, count: 4) == Array("BASE".utf8))
        try image.write(Array("MINE".utf8), at: 0)
        try image.flush()
        #expect(try image.readBytes(at: 0, count: 4) == Array("MINE".utf8))
        #expect(try RawImage(path: base, readOnly: true).readBytes(at: 0, count: 4) == Array("BASE".utf8))

        let subscription = registry.events.subscribe(after: 0)
        subscription.finish()
        var events: [LifecycleEvent] = []
        for await event in subscription.events { events.append(event) }
        #expect(events.contains { $0.kind == .cloned && $0.name == "c1" && $0.operation == "op-1" })
    }

    @Test func theTemplateIsProtectedWhileClonesExist() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let registry = try scratch.registry()
        let base = try scratch.rawImage("root.raw")
        let definition = VMDefinition(name: "template", boot: .guest("hello"), disks: [DiskSpec(path: base)])
        let template = try registry.define(definition)
        let clone = try await registry.clone(template, as: "c1", operationID: "op")
        _ = try await registry.clone(template, as: "c2", operationID: "op")

        let undefine = await Self.message { try await registry.undefine(template) }
        #expect(undefine.contains("template with 2 clones ('c1', 'c2')") && undefine.contains("cannot be undefined"), "\(undefine)")
        var changed = definition
        changed.disks = []
        let update = await Self.message { try await registry.update(template, to: changed) }
        #expect(update.contains("cannot have its disks changed"), "\(update)")
        let start = await Self.message { try await template.perform(.start) }
        #expect(start.contains("cannot start with disk '\(base)' writable") && start.contains("'c1', 'c2'"), "\(start)")
        // Another VM may not write the template's image either; read-only it may.
        let other = try registry.define(VMDefinition(name: "other", boot: .guest("hello"), disks: [DiskSpec(path: base)]))
        let otherStart = await Self.message { try await other.perform(.start) }
        #expect(otherStart.contains("template image of 2 clones"), "\(otherStart)")
        // What does not touch the disks is allowed.
        var bigger = definition
        bigger.memoryMiB = 128
        #expect(try await registry.update(template, to: bigger).definition.memoryMiB == 128)
        // Errors map to 409 template-in-use.
        #expect(DaemonError.templateInUse("x").status == 409)
        #expect(DaemonError.templateInUse("x").code == "template-in-use")

        // Undefining a clone deletes its overlay; with no clones left the template is an ordinary VM again.
        let overlay = clone.definition.disks[0].path
        _ = try await registry.undefine(clone)
        #expect(!FileManager.default.fileExists(atPath: overlay))
        _ = try await registry.undefine(try registry.find("c2"))
        #expect(scratch.cloneFiles.isEmpty)
        _ = try await registry.undefine(template)
    }

    @Test func refusedClonesLeaveNothingBehind() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let registry = try scratch.registry()
        let base = try scratch.rawImage("root.raw")
        let template = try registry.define(VMDefinition(name: "template", boot: .guest("hello"), disks: [DiskSpec(path: base)]))
        _ = try registry.define(VMDefinition(name: "taken", boot: .guest("hello")))

        #expect(await Self.message { try await registry.clone(template, as: "taken", operationID: "op") }
            == "a VM named 'taken' already exists")
        #expect(await Self.message { try await registry.clone(template, as: "../etc", operationID: "op") }
            .contains("is not a valid name"))
        #expect(await Self.message { try registry.find("missing") } == "no VM with id or name 'missing'")
        // The template's image became a FIFO after the define: the clone is refused, no overlay is left.
        try FileManager.default.removeItem(atPath: base)
        #expect(mkfifo(base, 0o600) == 0)
        let fifo = await Self.message { try await registry.clone(template, as: "c1", operationID: "op") }
        #expect(fifo.contains("is a FIFO, not a regular file"), "\(fifo)")
        #expect(scratch.cloneFiles.isEmpty)
        #expect(registry.all.map(\.name) == ["taken", "template"])
    }

    @Test func clonesSurviveARestartAndOrphanOverlaysAreSwept() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let base = try scratch.rawImage("root.raw")
        let cloneID: String
        do {
            let registry = try scratch.registry()
            let template = try registry.define(VMDefinition(name: "template", boot: .guest("hello"), disks: [DiskSpec(path: base)]))
            cloneID = try await registry.clone(template, as: "c1", operationID: "op").id
        }
        // What a crash while cloning (or while undefining a clone) can leave: a temporary overlay, an overlay
        // without a record.
        let clones = scratch.store.clonesDirectory
        #expect(FileManager.default.createFile(atPath: clones + "/.tmp-x.disk0.qcow2-1", contents: Data([1])))
        #expect(FileManager.default.createFile(atPath: clones + "/dead.disk0.qcow2", contents: Data([1])))

        let registry = try scratch.registry()
        registry.recover()
        #expect(scratch.cloneFiles == ["\(cloneID).disk0.qcow2"])
        let clone = try registry.find("c1")
        #expect(clone.info.clonedFrom == (try registry.find("template")).id)
        let undefine = await Self.message { try await registry.undefine(try registry.find("template")) }
        #expect(undefine.contains("('c1')"), "\(undefine)")
        // The clone still owns its overlay: an update that keeps it passes the policy.
        var renamed = clone.definition
        renamed.name = "c1-renamed"
        #expect(try await registry.update(clone, to: renamed).definition.name == "c1-renamed")
        let again = await Self.message { try await registry.undefine(try registry.find("template")) }
        #expect(again.contains("('c1-renamed')"), "\(again)")
    }
}
