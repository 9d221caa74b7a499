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

    @Test func pauseResumeAndStopFromAnotherThread() throws {
        for backend in Backends.usable(for: "pause/resume") {
            let machine = try loopingMachine(backend)
            try machine.start()
            try machine.pause()
            #expect(machine.isPaused)
            #expect(throws: VMMError.self) { try machine.pause() }
            try machine.resume()
            #expect(!machine.isPaused)
            #expect(throws: VMMError.self) { try machine.resume() }
            machine.stop()
            #expect(machine.waitForOutcome() == .stopped)
            #expect((machine.exitCounts["pio"] ?? 0) > 0, "\(backend) made no port exits")
        }
    }

    @Test func aMachineStartsOnlyOnce() throws {
        let machine = try loopingMachine(.soft)
        try machine.start()
        #expect(throws: VMMError.self) { try machine.start() }
        machine.stop()
        _ = machine.waitForOutcome()
    }

    @Test func badImagesAreRejectedBeforeAnythingRuns() {
        let elfHeaderOnly: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]
        for image in [elfHeaderOnly, [UInt8](repeating: 0x90, count: 600 << 10)] {
            #expect(throws: VMMError.self) {
                try Machine(configuration: MachineConfiguration(backend: .soft, boot: .guestImage(name: "bad", bytes: image)),
                            output: CapturingSerialOutput())
            }
        }
        #expect(throws: VMMError.self) {
            try Machine(configuration: MachineConfiguration(memoryMiB: 1, backend: .soft,
                                                            boot: .guestImage(name: "x", bytes: [0xF4])),
                        output: CapturingSerialOutput())
        }
        #expect(throws: VMMError.self) {
            try Machine(configuration: MachineConfiguration(backend: .soft, boot: .linux(kernel: [1, 2, 3], initrd: nil,
                                                                                         commandLine: "")),
                        output: CapturingSerialOutput())
        }
    }
}
