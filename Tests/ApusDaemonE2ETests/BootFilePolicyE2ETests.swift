import ApusAPI
import ApusClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The defects a hostile client showed: a definition naming /etc/shadow, a link out of the image root, /dev/zero, a
/// FIFO or /proc/self/environ as a boot file. Each is refused at define with 422 and a message naming the rule, and
/// the daemon carries on.
@Suite struct BootFilePolicyE2ETests {
    @Test func hostileBootFilesAreRefusedAtDefine() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let root = daemon.imageRoot
        try FileManager.default.createSymbolicLink(atPath: root + "/shadow-link", withDestinationPath: "/etc/shadow")
        #expect(mkfifo(root + "/fifo", 0o600) == 0)
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        let cases: [(boot: String, rule: String)] = [
            (#"{"kernel": "/etc/shadow"}"#, "outside the image roots"),
            (#"{"kernel": "\#(root)/vmlinuz", "initrd": "/etc/shadow"}"#, "outside the image roots"),
            (#"{"kernel": "\#(root)/shadow-link"}"#, "it resolves to '/etc/shadow'"),
            (#"{"image": "/dev/zero"}"#, "outside the image roots"),
            (#"{"image": "/dev/urandom"}"#, "outside the image roots"),
            (#"{"kernel": "\#(root)/fifo"}"#, "is a FIFO, not a regular file"),
            (#"{"kernel": "/proc/self/environ"}"#, "outside the image roots"),
        ]
        try Data("not really a kernel".utf8).write(to: URL(fileURLWithPath: root + "/vmlinuz"))
        for (index, item) in cases.enumerated() {
            let body = #"{"name": "hostile\#(index)", "boot": \#(item.boot)}"#
            let response = try http.send("POST", "/v1/vms", body: Array(body.utf8))
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(response.status == 422, "\(item.boot): \(text)")
            let error = try? JSONDecoder().decode(APIErrorBody.self, from: Data(response.body))
            #expect(error?.error.message.contains(item.rule) == true, "\(item.boot): \(text)")
        }
        #expect(try daemon.client.list().isEmpty)

        // A file inside the root is accepted; swapped for a FIFO after the define, the start refuses it (422) at
        // once instead of hanging.
        _ = try daemon.client.define(VMDefinition(name: "swapped", boot: .image(path: root + "/vmlinuz")))
        try FileManager.default.removeItem(atPath: root + "/vmlinuz")
        #expect(mkfifo(root + "/vmlinuz", 0o600) == 0)
        let start = try http.send("POST", "/v1/vms/swapped/start")
        #expect(start.status == 422)
        #expect(String(decoding: start.body, as: UTF8.self).contains("is a FIFO, not a regular file"))
        #expect(try daemon.client.show("swapped").state == .inactive)
        #expect(daemon.terminate() == 0)
    }
}
