@testable import ApusDaemon
import CSandbox
import Foundation
import Testing

/// Cgroup detection and placement on a directory tree laid out like a cgroup v2 mount (the real one needs systemd to
/// delegate a cgroup, which a test cannot arrange): each refusal gives its own reason, and a delegated tree is set up
/// the way the kernel expects (daemon in a leaf, controllers enabled for children, a worker's limits written).
@Suite struct WorkerCgroupsTests {
    /// A fake cgroup2 mount with apusd's membership line pointing at `system.slice/apusd.service` inside it.
    struct FakeHierarchy {
        let mount: String
        let membership: String
        var own: String { mount + "/system.slice/apusd.service" }

        init(unified: Bool = true) throws {
            mount = NSTemporaryDirectory() + "apus-cgroups-\(UUID().uuidString)"
            membership = mount + ".membership"
            try FileManager.default.createDirectory(atPath: mount + "/system.slice/apusd.service",
                                                    withIntermediateDirectories: true)
            if unified { try "cpu memory pids\n".write(toFile: mount + "/cgroup.controllers", atomically: true, encoding: .utf8) }
            try "0::/system.slice/apusd.service\n".write(toFile: membership, atomically: true, encoding: .utf8)
        }

        func file(_ relative: String, _ text: String) throws {
            try text.write(toFile: own + "/" + relative, atomically: true, encoding: .utf8)
        }

        func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<missing>" }

        /// Marks apusd's cgroup as systemd does for Delegate=yes; false where the file system refuses user xattrs.
        func markDelegated() -> Bool { setxattr(own, "user.delegate", "1", 1, 0) == 0 }

        func detect() -> WorkerCgroups { WorkerCgroups.detect(mountPoint: mount, membershipFile: membership) }

        func removeAll() {
            try? FileManager.default.removeItem(atPath: mount)
            try? FileManager.default.removeItem(atPath: membership)
        }
    }

    @Test func withoutAUnifiedHierarchyWorkersShareTheDaemonsCgroup() throws {
        let tree = try FakeHierarchy(unified: false)
        defer { tree.removeAll() }
        let cgroups = tree.detect()
        #expect(cgroups.parent == nil)
        #expect(cgroups.unavailableReason?.contains("no cgroup v2 hierarchy") == true)
        #expect(cgroups.place(getpid(), vm: "v", guestMemoryMiB: 64) == nil)
    }

    @Test func aCgroupSystemdDidNotDelegateIsNeverTouched() throws {
        let tree = try FakeHierarchy()
        defer { tree.removeAll() }
        try tree.file("cgroup.controllers", "cpu memory\n")
        try tree.file("cgroup.subtree_control", "")
        let cgroups = tree.detect()
        #expect(cgroups.parent == nil)
        #expect(cgroups.unavailableReason?.contains("was not delegated") == true)
        #expect(!FileManager.default.fileExists(atPath: tree.own + "/daemon"))
        #expect(tree.read(tree.own + "/cgroup.subtree_control") == "")
    }

    @Test func missingControllersAreReported() throws {
        let tree = try FakeHierarchy()
        defer { tree.removeAll() }
        guard tree.markDelegated() else {
            print("skipped: \(NSTemporaryDirectory()) refuses user extended attributes")
            return
        }
        try tree.file("cgroup.controllers", "pids\n")
        let cgroups = tree.detect()
        #expect(cgroups.parent == nil)
        #expect(cgroups.unavailableReason?.contains("memory and cpu controllers are not delegated") == true)
        #expect(!FileManager.default.fileExists(atPath: tree.own + "/daemon"))
    }

    @Test func aDelegatedCgroupGetsADaemonLeafAndAChildPerWorker() throws {
        let tree = try FakeHierarchy()
        defer { tree.removeAll() }
        guard tree.markDelegated() else {
            print("skipped: \(NSTemporaryDirectory()) refuses user extended attributes")
            return
        }
        try tree.file("cgroup.controllers", "cpu memory pids\n")
        try tree.file("cgroup.subtree_control", "")
        // The kernel creates a cgroup's interface files with the directory; here the test does.
        try FileManager.default.createDirectory(atPath: tree.own + "/daemon", withIntermediateDirectories: false)
        for name in ["cgroup.procs", "cpu.weight"] { try tree.file("daemon/" + name, "") }

        let cgroups = tree.detect()
        #expect(cgroups.unavailableReason == nil)
        #expect(cgroups.parent == tree.own)
        #expect(tree.read(tree.own + "/daemon/cgroup.procs") == "\(getpid())")
        #expect(tree.read(tree.own + "/cgroup.subtree_control") == "+memory +cpu")
        #expect(tree.read(tree.own + "/daemon/cpu.weight") == "\(WorkerCgroups.daemonCPUWeight)")

        // A worker's cgroup: mkdir gives an empty directory here, so writes to its files fail and place() backs out.
        #expect(cgroups.place(4242, vm: "abc", guestMemoryMiB: 256) == nil)
        #expect(!FileManager.default.fileExists(atPath: tree.own + "/vm-abc-4242"))
    }

    @Test func placingAWorkerWritesItsLimitsThenRemovalCleansUp() throws {
        let tree = try FakeHierarchy()
        defer { tree.removeAll() }
        let directory = tree.own + "/vm-abc-4242"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        for name in ["cgroup.procs", "memory.max", "cpu.weight"] { try tree.file("vm-abc-4242/" + name, "") }
        let cgroups = WorkerCgroups(parent: tree.own, unavailableReason: nil)

        #expect(cgroups.place(4242, vm: "abc", guestMemoryMiB: 256) == directory)
        #expect(tree.read(directory + "/memory.max") == "\(UInt64(256 + WorkerSandbox.dataHeadroomMiB) << 20)")
        #expect(tree.read(directory + "/cpu.weight") == "\(WorkerCgroups.workerCPUWeight)")
        #expect(tree.read(directory + "/cgroup.procs") == "4242")

        // A real cgroup directory holds only kernel files and rmdir removes it; a populated one refuses, with a reason.
        #expect(WorkerCgroups.remove(directory) != nil)
        for name in ["cgroup.procs", "memory.max", "cpu.weight"] { try FileManager.default.removeItem(atPath: directory + "/" + name) }
        #expect(WorkerCgroups.remove(directory) == nil)
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(WorkerCgroups.remove(directory) == nil)
    }
}
