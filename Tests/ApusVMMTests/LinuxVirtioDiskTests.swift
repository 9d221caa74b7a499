import ApusCore
import ApusDevices
import ApusDisk
import ApusVMM
import ApusTesting
import Foundation
import Testing

/// The Debian kernel on the software CPU finds a virtio-blk disk on the PCI bus (ACPI root bridge, ECAM, MSI-X or
/// INTx through the IOAPIC), its initramfs loads the virtio modules, mounts the ext4 file system of a qcow2 overlay
/// whose backing file is a raw image, writes a file, syncs and powers off. On the host the file reads back with
/// debugfs, `qemu-img check` finds no errors in the overlay, and the base image is byte for byte unchanged.
@Suite struct LinuxVirtioDiskTests {
    /// Liveness bounds, not timing assertions. A debug-build boot takes 2-4 minutes on an idle 2-core machine and
    /// over 15 when other builds load it several times over, so the run is given up only when the console has been
    /// silent for `silenceLimit` (the kernel prints as it goes), or after `overallLimit` whatever happens.
    static let silenceLimit: TimeInterval = 600
    static let overallLimit: TimeInterval = 3600

    @Test func debianKernelWritesToAnExt4OverlayOverVirtioBlk() throws {
        guard DebianGuest.require(for: "LinuxVirtioDiskTests") else { return }
        let tools = ["debugfs": ["/usr/sbin/debugfs", "/sbin/debugfs"], "qemu-img": ["/usr/bin/qemu-img"]]
            .mapValues { $0.first(where: FileManager.default.isExecutableFile) }
        if let missing = tools.first(where: { $0.value == nil })?.key {
            print("LinuxVirtioDiskTests: skipping: \(missing) is not installed (Debian: e2fsprogs, qemu-utils)")
            return
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("apus-virtio-disk-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = directory.appendingPathComponent("base.raw")
        let overlay = directory.appendingPathComponent("overlay.qcow2")
        try FileManager.default.copyItem(at: DebianGuest.rootImage, to: base)
        let baseBytes = try Data(contentsOf: base)
        // A relative backing name, as clones store it; the overlay is closed before the machine opens it.
        _ = try Qcow2Image.create(path: overlay.path, backingFile: "base.raw", backingFormat: "raw")

        let output = CapturingSerialOutput()
        let machine = try Machine(
            configuration: MachineConfiguration(
                memoryMiB: 256, backend: .soft,
                boot: .linux(kernel: try [UInt8](Data(contentsOf: DebianGuest.kernel)),
                             initrd: try [UInt8](Data(contentsOf: DebianGuest.initramfs)),
                             commandLine: "console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 apus.disktest"),
                disks: [DiskAttachment(path: overlay.path)]),
            output: output)
        try machine.start()
        let start = Date()
        var lastProgress = (Date(), 0)
        while machine.outcome == nil && Date().timeIntervalSince(start) < Self.overallLimit {
            Thread.sleep(forTimeInterval: 0.5)
            let printed = output.text.utf8.count
            if printed != lastProgress.1 { lastProgress = (Date(), printed) }
            if Date().timeIntervalSince(lastProgress.0) > Self.silenceLimit { break }
        }
        if machine.outcome == nil {
            print("LinuxVirtioDiskTests: stopping the guest: no console output for \(Int(Self.silenceLimit)) s")
            machine.stop()
        }
        let outcome = machine.waitForOutcome()
        let text = output.text
        print("LinuxVirtioDiskTests: the kernel's PCI and virtio lines:\n" + text.split(whereSeparator: \.isNewline)
            .filter { $0.contains("PCI") || $0.contains("pci") || $0.contains("virtio") || $0.contains("vda")
                || $0.contains("EXT4") || $0.contains("APUS") }
            .joined(separator: "\n"))
        #expect(outcome == .systemEvent(.shutdown), "\(outcome); output: \(text.suffix(3000))")
        #expect(!text.contains("APUS-INSMOD-FAILED"), "a virtio module did not load")
        #expect(text.contains("APUS-DISK-HAS-BUSYBOX"), "the mounted file system is not the base image's")
        #expect(text.contains("APUS-DISK-WRITTEN"), "the guest did not write to the disk; output: \(text.suffix(3000))")
        #expect(!text.contains("ACPI BIOS Error") && !text.contains("ACPI Error") && !text.contains("ACPI Warning"),
                "the kernel complained about the ACPI tables")

        let check = try run(tools["qemu-img"]!!, ["check", overlay.path])
        #expect(check.status == 0 && check.output.contains("No errors were found"), "qemu-img check: \(check.output)")
        // debugfs reads raw images only: qemu-img flattens the overlay (reading it through its backing file).
        let flat = directory.appendingPathComponent("flat.raw")
        let convert = try run(tools["qemu-img"]!!, ["convert", "-f", "qcow2", "-O", "raw", overlay.path, flat.path])
        #expect(convert.status == 0, "qemu-img convert: \(convert.output)")
        let file = try run(tools["debugfs"]!!, ["-R", "cat /apus-disktest.txt", flat.path])
        #expect(file.output.contains("written by the Apus guest"), "debugfs: \(file.output)")
        #expect(try Data(contentsOf: base) == baseBytes, "the base image changed")
    }

    private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try CommandRunner.runTool(executable, arguments)
    }
}
