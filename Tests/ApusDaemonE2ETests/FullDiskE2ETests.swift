import ApusAPI
import ApusClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Suspending onto a full disk answers 507, leaves no partial files, and the VM carries on running.
@Suite struct FullDiskE2ETests {
    @Test func suspendOntoAFullDiskFailsCleanly() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = directory + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // A 32 MiB tmpfs as the state directory: room for records, not for 248 MiB of guest memory.
        guard mount("tmpfs", state, "tmpfs", 0, "size=32m,mode=0700") == 0 else {
            print("full-disk test: skipping: cannot mount a small tmpfs here (\(String(cString: strerror(errno))); needs root)")
            return
        }
        defer { umount2(state, Int32(MNT_DETACH)) }

        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let client = daemon.client
        _ = try client.define(VMDefinition(name: "big", memoryMiB: 256, boot: .guest("memfill")))
        _ = try client.perform(.start, on: "big")
        try DaemonProcess.wait(60, for: "memfill to dirty its memory") {
            String(decoding: try client.consoleBacklog("big"), as: UTF8.self).contains("dirtied")
        }
        do {
            _ = try client.perform(.suspend, on: "big")
            Issue.record("suspending 248 MiB onto a 32 MiB disk succeeded")
        } catch ClientError.api(let detail) {
            #expect(detail.status == 507, "\(detail)")
            #expect(detail.message.contains("not enough disk space"), "\(detail.message)")
        }
        let vm = try client.show("big")
        #expect(vm.state == .active, "the VM carries on after a failed suspend")
        let files = try FileManager.default.subpathsOfDirectory(atPath: state)
        #expect(!files.contains { $0.contains("suspended") || $0.contains(".tmp-") }, "left behind: \(files)")
        // The daemon still works, and the record on disk is intact.
        _ = try client.perform(.stop, on: "big")
        #expect(daemon.terminate() == 0)
        try daemon.start()
        #expect(try client.show("big").state == .inactive)
        #expect(daemon.terminate() == 0)
    }
}
