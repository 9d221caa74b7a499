import ApusDevices
import ApusVMM
import Foundation
import Testing

/// Snapshots from before the split irqchip (format 1: KVM's PIC and IOAPIC as kernel blobs, no LAPIC devices) are
/// refused by their version, with a message saying so, before anything of them is restored.
@Suite struct SnapshotFormatVersionTests {
    @Test func aFormatOneManifestIsRefusedByItsVersion() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-format-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A version-1 manifest as a KVM machine wrote it, trimmed: what follows the version is never looked at.
        let manifest = #"{"formatVersion": 1, "machineState": {"kvm.pic_master": [0]}, "vcpus": []}"#
        try Data(manifest.utf8).write(to: directory.appendingPathComponent("machine.json"))
        do {
            _ = try Machine.restore(from: directory, output: CapturingSerialOutput())
            Issue.record("a format-1 snapshot was restored")
        } catch let error as SnapshotError {
            #expect(error == .unsupportedVersion(1))
            #expect(error.description.contains("format version 1"), "\(error)")
            #expect(error.description.contains("only version 2"), "\(error)")
        }
        #expect(throws: SnapshotError.self) { try Machine.checkSavedState(at: directory) }
    }
}
