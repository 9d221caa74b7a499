import ApusCore
import ApusDevices
import ApusDisk
@testable import ApusVMM
import Foundation
import Synchronization
import Testing

/// `--disk PATH[,readonly]`, images that cannot be opened, and the wired-OR of shared PCI INTx pins.
@Suite struct DiskAttachmentTests {
    @Test func parsesPathAndReadOnly() throws {
        #expect(try DiskAttachment(argument: "/images/root.qcow2") == DiskAttachment(path: "/images/root.qcow2"))
        #expect(try DiskAttachment(argument: "base.raw,readonly") == DiskAttachment(path: "base.raw", readOnly: true))
        #expect(try DiskAttachment(argument: "base.raw,ro") == DiskAttachment(path: "base.raw", readOnly: true))
        #expect(throws: VMMError.self) { try DiskAttachment(argument: "") }
        #expect(throws: VMMError.self) { try DiskAttachment(argument: ",readonly") }
        #expect(throws: VMMError.self) { try DiskAttachment(argument: "disk.img,cache=none") }
    }

    @Test func anImageThatCannotBeOpenedIsRefusedWithItsPath() throws {
        let missing = "/nonexistent-\(UUID().uuidString)/disk.qcow2"
        let configuration = MachineConfiguration(
            memoryMiB: 16, backend: .soft,
            boot: .linux(kernel: [0x7F, 0x45, 0x4C, 0x46], initrd: nil, commandLine: ""),
            disks: [DiskAttachment(path: missing)])
        do {
            _ = try Machine(configuration: configuration, output: DiscardingOutput())
            Issue.record("a machine was built with a disk that does not exist")
        } catch let error as VMMError {
            #expect("\(error)".contains(missing) && "\(error)".contains("cannot be used"), "\(error)")
        }
    }

    @Test func aCorruptQcow2IsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("apus-corrupt-\(UUID().uuidString).qcow2")
        defer { try? FileManager.default.removeItem(at: path) }
        // The qcow2 magic and version 3, then a header whose sizes make no sense.
        var bytes = [UInt8](repeating: 0xFF, count: 4096)
        bytes.replaceSubrange(0..<8, with: [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3])
        try Data(bytes).write(to: path)
        #expect(throws: VMMError.self) { _ = try PCIPlatform.openDisks([DiskAttachment(path: path.path)]) }
    }

    @Test func disksNeedTheInterruptControllerPlatform() {
        let configuration = MachineConfiguration(boot: .guestImage(name: "x", bytes: [0xF4]), interruptController: InterruptControllerMode.none,
                                                 disks: [DiskAttachment(path: "/dev/null")])
        #expect(throws: VMMError.self) { try configuration.validate() }
    }

    @Test func sharedINTxStaysAssertedWhileAnyFunctionAssertsIt() {
        let pin = RecordingLine()
        let wire = WiredOrLine(output: pin)
        let first = wire.input()
        let second = wire.input()
        first.setLevel(true)
        second.setLevel(true)
        first.setLevel(false)
        #expect(pin.levels == [true], "one function still asserts the pin")
        second.setLevel(false)
        #expect(pin.levels == [true, false])
    }
}

private final class RecordingLine: InterruptLine, Sendable {
    private let recorded = Mutex<[Bool]>([])
    var levels: [Bool] { recorded.withLock { $0 } }
    func setLevel(_ asserted: Bool) { recorded.withLock { $0.append(asserted) } }
}

private struct DiscardingOutput: SerialOutput {
    func transmit(_ byte: UInt8) {}
}
