import ApusAPI
import ApusClient
import ApusTesting
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Disks in VM definitions, templates and clones against a real apusd: `apus vm define --disk`, `apus vm clone` and
/// `POST /v1/vms/{id}/clone`, the overlay judged by `qemu-img check`, the template's protection, hostile inputs,
/// a daemon restart and kill -9 while cloning.
@Suite(.serialized) struct CloneE2ETests {
    private static func sparseImage(_ path: String, size: off_t, marker: String) throws {
        try Data(marker.utf8).write(to: URL(fileURLWithPath: path))
        #expect(truncate(path, size) == 0)
    }

    private static func error(_ response: UnixHTTPClient.Response) -> APIErrorBody.Detail? {
        try? JSONDecoder().decode(APIErrorBody.self, from: Data(response.body)).error
    }

    private static let qemuImg = "/usr/bin/qemu-img"


    @Test func defineWithADiskCloneAndProtectTheTemplate() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let socket = ["--socket", daemon.socketPath]
        let base = daemon.imageRoot + "/root.raw"
        try Self.sparseImage(base, size: 1 << 30, marker: "TEMPLATE")

        let defined = try CommandRunner.run("apus", ["vm", "define", "tpl", "--guest", "hello", "--disk", base] + socket)
        #expect(defined.status == 0, "\(defined.standardError)")
        let show = try CommandRunner.run("apus", ["vm", "show", "tpl"] + socket)
        #expect(show.standardOutput.contains("disk 0:   \(base)\n"), "\(show.standardOutput)")

        let cloned = try CommandRunner.run("apus", ["vm", "clone", "tpl", "c1", "--json"] + socket)
        #expect(cloned.status == 0, "\(cloned.standardError)")
        let c1 = try JSONDecoder.iso8601.decode(VMInfo.self, from: Data(cloned.standardOutput.utf8))
        let template = try daemon.client.show("tpl")
        #expect(c1.clonedFrom == template.id)
        let overlay = c1.definition.disks[0].path
        #expect(overlay.hasPrefix(daemon.stateDirectory) || overlay.contains("/state/clones/"), "\(overlay)")
        #expect(overlay.hasSuffix(".qcow2"))

        if FileManager.default.isExecutableFile(atPath: Self.qemuImg) {
            let check = try CommandRunner.runTool(Self.qemuImg, ["check", overlay])
            #expect(check.status == 0, "qemu-img check: \(check.output)")
            let info = try CommandRunner.runTool(Self.qemuImg, ["info", "--output=json", overlay])
            #expect(info.output.contains("\"backing-filename\": \"\(base)\""), "\(info.output)")
            #expect(info.output.contains("\"virtual-size\": 1073741824"), "\(info.output)")
        } else {
            print("CloneE2ETests: qemu-img check skipped: /usr/bin/qemu-img is missing (Debian's qemu-utils)")
        }

        // The same over the API, with a cloned event.
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        let c2 = try http.send("POST", "/v1/vms/tpl/clone", body: Array(#"{"name": "c2"}"#.utf8),
                               headers: ["Operation-Id": "clone-c2"])
        #expect(c2.status == 201, "\(String(decoding: c2.body, as: UTF8.self))")
        var kinds: [LifecycleEvent] = []
        try daemon.client.events(since: 0) { event in
            kinds.append(event)
            return kinds.count < 3
        }
        #expect(kinds.map(\.kind) == [.defined, .cloned, .cloned])
        #expect(kinds.last?.name == "c2" && kinds.last?.operation == "clone-c2")

        // The template is protected while clones exist: 409 template-in-use naming them.
        let undefine = try http.send("DELETE", "/v1/vms/tpl")
        #expect(undefine.status == 409)
        #expect(Self.error(undefine)?.code == "template-in-use")
        #expect(Self.error(undefine)?.message.contains("('c1', 'c2')") == true, "\(String(decoding: undefine.body, as: UTF8.self))")
        let start = try http.send("POST", "/v1/vms/tpl/start")
        #expect(start.status == 409 && Self.error(start)?.message.contains("writable") == true,
                "\(String(decoding: start.body, as: UTF8.self))")
        let update = try http.send("PUT", "/v1/vms/tpl", body: Array(#"{"name": "tpl", "boot": {"guest": "hello"}}"#.utf8))
        #expect(update.status == 409 && Self.error(update)?.message.contains("disks changed") == true)
        #expect(try daemon.client.show("tpl").state == .inactive)

        // A restart keeps the clones and the protection.
        #expect(daemon.terminate() == 0)
        try daemon.start()
        #expect(try daemon.client.show("c1").clonedFrom == template.id)
        #expect(try http.send("DELETE", "/v1/vms/tpl").status == 409)

        // Undefining a clone deletes its overlay; with no clones the template is ordinary again.
        let undefined = try CommandRunner.run("apus", ["vm", "undefine", "c1"] + socket)
        #expect(undefined.status == 0)
        #expect(!FileManager.default.fileExists(atPath: overlay))
        _ = try daemon.client.undefine("c2")
        #expect(try http.send("DELETE", "/v1/vms/tpl").status == 200)
        #expect(try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory + "/clones").isEmpty)
        #expect(daemon.terminate() == 0)
    }

    @Test func hostileDisksAndClonesAreRefused() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let root = daemon.imageRoot
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        try Self.sparseImage(root + "/ok.raw", size: 1 << 20, marker: "OK")
        try FileManager.default.createSymbolicLink(atPath: root + "/shadow-link", withDestinationPath: "/etc/shadow")
        try FileManager.default.createSymbolicLink(atPath: root + "/zero-link", withDestinationPath: "/dev/zero")
        #expect(mkfifo(root + "/fifo", 0o600) == 0)
        // A qcow2 image in the root whose backing file is outside it.
        let escaping = try CommandRunner.runTool(Self.qemuImg, ["create", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd",
                                                                 root + "/escape.qcow2", "1M"])
        let haveQemu = escaping.status == 0
        if !haveQemu { print("CloneE2ETests: the backing-chain case is skipped: qemu-img is missing") }

        var cases: [(disk: String, status: Int, rule: String)] = [
            (#"{"path": "/etc/passwd"}"#, 422, "outside the image roots"),
            (#"{"path": "\#(root)/shadow-link"}"#, 422, "it resolves to '/etc/shadow'"),
            (#"{"path": "\#(root)/zero-link"}"#, 422, "it resolves to '/dev/zero'"),
            (#"{"path": "/dev/zero"}"#, 422, "outside the image roots"),
            (#"{"path": "\#(root)/fifo"}"#, 422, "is a FIFO, not a regular file"),
            (#"{"path": "\#(root)/missing.raw"}"#, 422, "No such file or directory"),
            (#"{"path": "relative.raw"}"#, 422, "must be absolute"),
            (#"{"path": "\#(root)/ok.raw", "readonly": true}"#, 400, "unknown field 'readonly'"),
            (#"{"path": "\#(root)/ok.raw", "readOnly": "yes"}"#, 400, "readOnly"),
        ]
        if haveQemu { cases.append((#"{"path": "\#(root)/escape.qcow2"}"#, 422, "backing file '/etc/passwd' is refused")) }
        for (index, item) in cases.enumerated() {
            let body = #"{"name": "hostile\#(index)", "boot": {"guest": "hello"}, "disks": [\#(item.disk)]}"#
            let response = try http.send("POST", "/v1/vms", body: Array(body.utf8))
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(response.status == item.status, "\(item.disk): \(text)")
            #expect(Self.error(response)?.message.contains(item.rule) == true, "\(item.disk): \(text)")
        }
        let twice = #"{"name": "twice", "boot": {"guest": "hello"}, "disks": [{"path": "\#(root)/ok.raw"}, {"path": "\#(root)/ok.raw", "readOnly": true}]}"#
        let twiceResponse = try http.send("POST", "/v1/vms", body: Array(twice.utf8))
        #expect(twiceResponse.status == 422 && Self.error(twiceResponse)?.message.contains("same file as disk 0") == true)
        #expect(try daemon.client.list().isEmpty)

        // Clones: a missing template, a taken name, a bad body, a name that is not one, a running template.
        _ = try daemon.client.define(VMDefinition(name: "tpl", boot: .guest("counter"), disks: [DiskSpec(path: root + "/ok.raw")]))
        _ = try daemon.client.define(VMDefinition(name: "taken", boot: .guest("hello")))
        let clones: [(path: String, body: String, status: Int, rule: String)] = [
            ("/v1/vms/ghost/clone", #"{"name": "c"}"#, 404, "no VM with id or name 'ghost'"),
            ("/v1/vms/tpl/clone", #"{"name": "taken"}"#, 409, "a VM named 'taken' already exists"),
            ("/v1/vms/tpl/clone", #"{"name": "tpl"}"#, 409, "a VM named 'tpl' already exists"),
            ("/v1/vms/tpl/clone", #"{"name": "../x"}"#, 400, "is not a valid name"),
            ("/v1/vms/tpl/clone", #"{"name": "c", "memoryMiB": 8}"#, 400, "unknown field 'memoryMiB'"),
            ("/v1/vms/tpl/clone", #"{}"#, 400, "name"),
            ("/v1/vms/tpl/clone", "", 400, "needs a body"),
        ]
        for item in clones {
            let response = try http.send("POST", item.path, body: Array(item.body.utf8))
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(response.status == item.status, "\(item.path) \(item.body): \(text)")
            #expect(Self.error(response)?.message.contains(item.rule) == true, "\(item.path) \(item.body): \(text)")
        }
        _ = try daemon.client.perform(.start, on: "tpl")
        let running = try http.send("POST", "/v1/vms/tpl/clone", body: Array(#"{"name": "c"}"#.utf8))
        #expect(running.status == 409 && Self.error(running)?.message.contains("while it is active") == true,
                "\(String(decoding: running.body, as: UTF8.self))")
        _ = try daemon.client.perform(.stop, on: "tpl")

        // An image that became unusable after the define is refused at start, naming the rule, and nothing runs.
        if haveQemu {
            _ = try CommandRunner.runTool(Self.qemuImg, ["create", "-q", "-f", "qcow2", root + "/later.qcow2", "1M"])
            _ = try daemon.client.define(VMDefinition(name: "later", boot: .guest("hello"),
                                                      disks: [DiskSpec(path: root + "/later.qcow2")]))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/later.qcow2"))
            try handle.seek(toOffset: 32)
            try handle.write(contentsOf: Data([0, 0, 0, 1]))  // crypt_method: AES
            try handle.close()
            let started = try http.send("POST", "/v1/vms/later/start")
            #expect(started.status == 422 && Self.error(started)?.message.contains("uses encryption") == true,
                    "\(String(decoding: started.body, as: UTF8.self))")
            #expect(try daemon.client.show("later").state == .inactive)
            _ = try daemon.client.undefine("later")
        }

        // Another VM may not attach a clone's overlay.
        let clone = try daemon.client.clone("tpl", as: "c")
        let stolen = #"{"name": "thief", "boot": {"guest": "hello"}, "disks": [{"path": "\#(clone.definition.disks[0].path)"}]}"#
        let theft = try http.send("POST", "/v1/vms", body: Array(stolen.utf8))
        #expect(theft.status == 422 && Self.error(theft)?.message.contains("clone overlay apusd made for another VM") == true,
                "\(String(decoding: theft.body, as: UTF8.self))")
        #expect(try daemon.client.list().map(\.definition.name) == ["c", "taken", "tpl"])
        #expect(daemon.terminate() == 0)
    }

    @Test func killDuringClonesLeavesNoHalfMadeClone() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        try Self.sparseImage(daemon.imageRoot + "/root.raw", size: 1 << 30, marker: "T")
        _ = try daemon.client.define(VMDefinition(name: "tpl", boot: .guest("hello"),
                                                  disks: [DiskSpec(path: daemon.imageRoot + "/root.raw")]))
        var made = 0
        for round in 0..<8 {
            let client = daemon.client
            let finished = DispatchSemaphore(value: 0)
            // Clones one after another until the daemon dies under it.
            let cloning = Thread {
                for index in 0..<1000 {
                    do { _ = try client.clone("tpl", as: "r\(round)-\(index)") } catch { break }
                }
                finished.signal()
            }
            cloning.start()
            usleep(useconds_t(30_000 + 40_000 * round))
            daemon.kill9()
            finished.wait()
            try daemon.start()
            // Every clone listed has its overlay, every file in the clone directory belongs to a listed clone.
            let clones = try daemon.client.list().filter { $0.clonedFrom != nil }
            let overlays = Set(clones.map { ($0.definition.disks[0].path as NSString).lastPathComponent })
            let files = Set(try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory + "/clones"))
            #expect(files == overlays, "round \(round): files \(files.subtracting(overlays)) without a clone, clones \(overlays.subtracting(files)) without a file")
            made = clones.count
        }
        print("kill -9 while cloning, 8 rounds: \(made) clones survived, every one whole, no stray file")
        #expect(made > 0)
        daemon.terminate()
    }
}
