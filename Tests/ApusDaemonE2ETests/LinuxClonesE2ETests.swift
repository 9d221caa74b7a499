import ApusAPI
import ApusClient
import ApusTesting
import Foundation
import Testing

/// Issue 12's acceptance for clones: two clones of one template boot Debian's kernel at once through apusd, on the
/// software CPU; each mounts its ext4 root (a copy-on-write overlay of the template's raw image), writes a file named
/// after itself and powers off. On the host each overlay holds only its own clone's file (debugfs on the overlay
/// flattened by qemu-img), and the template's image is byte for byte unchanged.
@Suite struct LinuxClonesE2ETests {
    /// Liveness bounds, not timing assertions (two debug-build boots share two cores with other builds): the run is
    /// given up only when neither console has printed for `silenceLimit`, or after `overallLimit`.
    static let silenceLimit: TimeInterval = 900
    static let overallLimit: TimeInterval = 5400

    /// The guest's /init for this test, added to the fetched initramfs as a second (uncompressed) cpio archive,
    /// which the kernel unpacks over the first: it loads the virtio modules, mounts /dev/vda, says whether another
    /// clone's file is visible, writes /apus-clone-NAME.txt (NAME from `apus.clone=NAME`), syncs and powers off.
    static let initScript = """
        #!/bin/sh
        mount -t proc proc /proc
        mount -t devtmpfs devtmpfs /dev
        for module in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
            insmod /lib/modules/$module.ko || echo "APUS-INSMOD-FAILED $module"
        done
        name=unnamed
        for word in $(cat /proc/cmdline); do
            case "$word" in apus.clone=*) name="${word#apus.clone=}" ;; esac
        done
        if mount -t ext4 /dev/vda /mnt; then
            for other in /mnt/apus-clone-*.txt; do
                [ -e "$other" ] && echo "APUS-CLONE-SAW $other"
            done
            echo "written by clone $name" > /mnt/apus-clone-$name.txt
            sync
            umount /mnt
            echo "APUS-CLONE-WROTE $name"
        else
            echo "APUS-CLONE-MOUNT-FAILED"
        fi
        poweroff -f

        """

    @Test func twoClonesOfOneTemplateBootAtOnceAndEachSeesOnlyItsOwnWrites() throws {
        guard DebianGuest.require(for: "LinuxClonesE2ETests") else { return }
        let tools = ["debugfs": ["/usr/sbin/debugfs", "/sbin/debugfs"], "qemu-img": ["/usr/bin/qemu-img"]]
            .mapValues { $0.first(where: FileManager.default.isExecutableFile) }
        if let missing = tools.first(where: { $0.value == nil })?.key {
            print("LinuxClonesE2ETests: skipping: \(missing) is not installed (Debian: e2fsprogs, qemu-utils)")
            return
        }
        let qemuImg = tools["qemu-img"]!!
        let debugfs = tools["debugfs"]!!
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let root = daemon.imageRoot
        try FileManager.default.copyItem(atPath: DebianGuest.kernel.path, toPath: root + "/vmlinux")
        var initrd = try Data(contentsOf: DebianGuest.initramfs)
        // The kernel wants each archive's headers 4-byte aligned in the whole initrd; it skips zero padding.
        initrd.append(Data(count: (4 - initrd.count % 4) % 4))
        initrd.append(NewcArchive.make(files: [("init", 0o100755, Array(Self.initScript.utf8))]))
        try initrd.write(to: URL(fileURLWithPath: root + "/initrd"))
        let base = root + "/rootfs.raw"
        try FileManager.default.copyItem(atPath: DebianGuest.rootImage.path, toPath: base)
        let baseBytes = try Data(contentsOf: URL(fileURLWithPath: base))

        let commandLine = "console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1"
        let template = VMDefinition(name: "template", memoryMiB: 256, backend: "soft",
                                    boot: .linux(kernel: root + "/vmlinux", initrd: root + "/initrd", commandLine: commandLine),
                                    disks: [DiskSpec(path: base)])
        let client = daemon.client
        _ = try client.define(template)
        let names = ["one", "two"]
        var overlays: [String: String] = [:]
        for name in names {
            var clone = try client.clone("template", as: name).definition
            overlays[name] = clone.disks[0].path
            // Each clone is told its name on its own command line.
            clone.boot = .linux(kernel: root + "/vmlinux", initrd: root + "/initrd",
                                commandLine: commandLine + " apus.clone=\(name)")
            _ = try client.update(name, to: clone)
        }
        for name in names { _ = try client.perform(.start, on: name) }
        #expect(try names.allSatisfy { try client.show($0).state == .active }, "both clones run at once")

        let start = Date()
        var lastProgress = (Date(), 0)
        while try names.contains(where: { try client.show($0).state != .inactive }),
              Date().timeIntervalSince(start) < Self.overallLimit {
            Thread.sleep(forTimeInterval: 1)
            let printed = try names.map { try client.consoleBacklog($0).count }.reduce(0, +)
            if printed != lastProgress.1 { lastProgress = (Date(), printed) }
            if Date().timeIntervalSince(lastProgress.0) > Self.silenceLimit {
                print("LinuxClonesE2ETests: giving up: no console output for \(Int(Self.silenceLimit)) s")
                break
            }
        }
        print("LinuxClonesE2ETests: both clones ran for \(Int(Date().timeIntervalSince(start))) s")
        for name in names {
            let vm = try client.show(name)
            if vm.state != .inactive { _ = try? client.perform(.stop, on: name) }
            let console = String(decoding: try client.consoleBacklog(name), as: UTF8.self)
            #expect(vm.reason?.contains("shutdown") == true || vm.reason?.contains("power") == true,
                    "\(name): \(vm.state.rawValue), \(vm.reason ?? "no reason"); console: \(console.suffix(2000))")
            #expect(console.contains("APUS-CLONE-WROTE \(name)"), "\(name): \(console.suffix(2000))")
            #expect(!console.contains("APUS-CLONE-SAW"), "\(name) saw another clone's file: \(console.suffix(2000))")
            #expect(!console.contains("APUS-INSMOD-FAILED"), "\(name): a virtio module did not load")
        }
        #expect(daemon.terminate() == 0)

        // On the host: each overlay holds its own clone's file and not the other's.
        for name in names {
            let overlay = overlays[name] ?? ""
            let check = try CommandRunner.runTool(qemuImg, ["check", overlay])
            #expect(check.status == 0 && check.output.contains("No errors were found"), "\(name): qemu-img check: \(check.output)")
            let flat = directory + "/\(name).raw"
            let convert = try CommandRunner.runTool(qemuImg, ["convert", "-f", "qcow2", "-O", "raw", overlay, flat])
            #expect(convert.status == 0, "qemu-img convert: \(convert.output)")
            for other in names {
                let file = try CommandRunner.runTool(debugfs, ["-R", "cat /apus-clone-\(other).txt", flat])
                if other == name {
                    #expect(file.output.contains("written by clone \(name)"), "\(name)'s overlay: \(file.output)")
                } else {
                    #expect(!file.output.contains("written by clone"), "\(name)'s overlay holds \(other)'s file: \(file.output)")
                }
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: base)) == baseBytes, "the template's image changed")
    }
}

/// The cpio "newc" format (what the kernel's initramfs unpacker reads): one archive of regular files.
enum NewcArchive {
    static func make(files: [(name: String, mode: UInt32, bytes: [UInt8])]) -> Data {
        var archive: [UInt8] = []
        func pad() { while archive.count % 4 != 0 { archive.append(0) } }
        func entry(_ name: String, mode: UInt32, bytes: [UInt8], inode: UInt32) {
            let fields: [UInt32] = [inode, mode, 0, 0, 1, 0, UInt32(bytes.count), 0, 0, 0, 0,
                                    UInt32(name.utf8.count + 1), 0]
            archive += Array("070701".utf8)
            for field in fields {
                let hex = String(field, radix: 16, uppercase: true)
                archive += Array((String(repeating: "0", count: 8 - hex.count) + hex).utf8)
            }
            archive += Array(name.utf8) + [0]
            pad()
            archive += bytes
            pad()
        }
        for (index, file) in files.enumerated() { entry(file.name, mode: file.mode, bytes: file.bytes, inode: UInt32(index + 1)) }
        entry("TRAILER!!!", mode: 0, bytes: [], inode: 0)
        return Data(archive)
    }
}
