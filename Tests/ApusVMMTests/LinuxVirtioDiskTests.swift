import ApusTesting
import Foundation
import Testing

extension LinuxGuestTests {
    /// The Debian kernel on the software CPU (the shared guest, SharedLinuxGuest) finds a virtio-blk disk on the PCI
    /// bus (ACPI root bridge, ECAM, MSI-X or INTx through the IOAPIC), loads the virtio modules, mounts the ext4 file
    /// system of a qcow2 overlay whose backing file is a raw image, writes a file, syncs and unmounts. On the host,
    /// while the guest runs on (what the guest flushed must be in the file by then), the file reads back with debugfs,
    /// `qemu-img check` finds no errors in the overlay, and the base image is byte for byte unchanged.
    @Suite struct LinuxVirtioDiskTests {
        @Test func debianKernelWritesToAnExt4OverlayOverVirtioBlk() async throws {
            guard let guest = await SharedLinuxGuest.current().guest(for: "LinuxVirtioDiskTests") else { return }
            guard let disk = guest.disk else {
                print("LinuxVirtioDiskTests: skipping: \(guest.diskAbsence)")
                return
            }
            let session = await guest.run(
                "mkdir -p /apus-disk; if mount -t ext4 /dev/vda /apus-disk; then "
                    + "echo 'written by the Apus guest' > /apus-disk/apus-disktest.txt; "
                    + "ls /apus-disk/bin/busybox >/dev/null && echo APUS-DISK-HAS-BUSYBOX; sync; umount /apus-disk; "
                    + "echo APUS-DISK-WRITTEN; else echo APUS-DISK-MOUNT-FAILED; fi")
            let text = session.text
            print("LinuxVirtioDiskTests: the kernel's PCI and virtio lines:\n" + guest.kernelLog
                .split(whereSeparator: \.isNewline)
                .filter { $0.contains("PCI") || $0.contains("pci") || $0.contains("virtio") || $0.contains("vda")
                    || $0.contains("EXT4") }
                .joined(separator: "\n") + "\nLinuxVirtioDiskTests: the guest's script printed:\n" + text)
            #expect(session.finished, "the guest's script did not end; output: \(guest.output.text.suffix(3000))")
            #expect(!guest.setupOutput.contains("APUS-INSMOD-FAILED"), "a virtio module did not load: \(guest.setupOutput)")
            #expect(text.contains("APUS-DISK-HAS-BUSYBOX"), "the mounted file system is not the base image's")
            #expect(text.contains("APUS-DISK-WRITTEN"), "the guest did not write to the disk; output: \(text.suffix(3000))")
            let log = guest.kernelLog
            #expect(!log.contains("ACPI BIOS Error") && !log.contains("ACPI Error") && !log.contains("ACPI Warning"),
                    "the kernel complained about the ACPI tables")

            let check = try CommandRunner.runTool(disk.qemuImg, ["check", disk.overlay.path])
            #expect(check.status == 0 && check.output.contains("No errors were found"), "qemu-img check: \(check.output)")
            // debugfs reads raw images only: qemu-img flattens the overlay (reading it through its backing file).
            let flat = guest.directory.appendingPathComponent("flat.raw")
            let convert = try CommandRunner.runTool(disk.qemuImg, ["convert", "-f", "qcow2", "-O", "raw",
                                                                   disk.overlay.path, flat.path])
            #expect(convert.status == 0, "qemu-img convert: \(convert.output)")
            let file = try CommandRunner.runTool(disk.debugfs, ["-R", "cat /apus-disktest.txt", flat.path])
            #expect(file.output.contains("written by the Apus guest"), "debugfs: \(file.output)")
            try? FileManager.default.removeItem(at: flat)
            // The base is a copy of the fetched root image, made before the boot.
            #expect(try Data(contentsOf: disk.base) == Data(contentsOf: DebianGuest.rootImage), "the base image changed")
        }
    }
}
