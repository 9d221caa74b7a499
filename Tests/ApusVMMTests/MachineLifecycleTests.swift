import ApusCore
import ApusDevices
import ApusGuests
import ApusVMM
import Foundation
import Testing

@Suite struct MachineLifecycleTests {
    /// The PIO benchmark guest loops forever, so it can be paused, resumed and stopped at any moment.
    private func loopingMachine(_ backend: BackendChoice) throws -> Machine {
        let guest = try #require(BuiltInGuests.named("piobench"))
        return try Machine(configuration: MachineConfiguration(backend: backend,
                                                               boot: .guestImage(name: guest.name, bytes: guest.image)),
                           output: CapturingSerialOutput())
    }

    /// Waits (a liveness bound, not a timing assertion) until the console has grown past `count` bytes.
    private func waitForOutput(_ output: CapturingSerialOutput, beyond count: Int) -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if output.data.count > count { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    @Test func pauseResumeAndStopFromAnotherThread() throws {
        let guest = try #require(BuiltInGuests.named("counter"))
        for backend in Backends.usable(for: "pause/resume") {
            let output = CapturingSerialOutput()
            let machine = try Machine(configuration: MachineConfiguration(
                backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image)), output: output)
            try machine.start()
            #expect(waitForOutput(output, beyond: 0), "\(backend): the guest printed nothing")
            try machine.pause()
            #expect(machine.isPaused)
            let frozen = output.data.count
            Thread.sleep(forTimeInterval: 0.1)
            #expect(output.data.count == frozen, "\(backend): a paused guest kept printing")
            #expect(throws: VMMError.self) { try machine.pause() }
            try machine.resume()
            #expect(!machine.isPaused)
            #expect(throws: VMMError.self) { try machine.resume() }
            #expect(waitForOutput(output, beyond: frozen), "\(backend): the guest did not continue after resume")
            machine.stop()
            #expect(machine.waitForOutcome() == .stopped)
            #expect((machine.exitCounts["pio"] ?? 0) > 0, "\(backend) made no port exits")
        }
    }

    @Test func aMachineStartsOnlyOnce() throws {
        for backend in Backends.usable(for: "start once") {
            let machine = try loopingMachine(backend)
            try machine.start()
            #expect(throws: VMMError.self) { try machine.start() }
            machine.stop()
            _ = machine.waitForOutcome()
        }
    }

    @Test func badImagesAreRejectedBeforeAnythingRuns() {
        guard let backend = Backends.usable(for: "bad images").first else { return }
        let elfHeaderOnly: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]
        for image in [elfHeaderOnly, [UInt8](repeating: 0x90, count: 600 << 10)] {
            #expect(throws: VMMError.self) {
                try Machine(configuration: MachineConfiguration(backend: backend, boot: .guestImage(name: "bad", bytes: image)),
                            output: CapturingSerialOutput())
            }
        }
        #expect(throws: VMMError.self) {
            try Machine(configuration: MachineConfiguration(memoryMiB: 1, backend: backend,
                                                            boot: .guestImage(name: "x", bytes: [0xF4])),
                        output: CapturingSerialOutput())
        }
        #expect(throws: VMMError.self) {
            try Machine(configuration: MachineConfiguration(backend: backend, boot: .linux(kernel: [1, 2, 3], initrd: nil,
                                                                                         commandLine: "")),
                        output: CapturingSerialOutput())
        }
    }
}
