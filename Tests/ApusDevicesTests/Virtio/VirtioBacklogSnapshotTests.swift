import ApusCore
import ApusDevices
import ApusTesting
import Foundation
import Testing

/// Host input that waits in a device's backlog (received frames, console bytes) is part of the transport's saved
/// state: a machine saved with it and restored delivers the same bytes, and a saved state that exceeds what the device
/// could hold is refused.
@Suite struct VirtioBacklogSnapshotTests {
    static let buffer = VirtioDeviceFixture.buffers

    @Test func receivedFramesSavedInTheBacklogReachTheRestoredGuest() throws {
        let frames = (0..<3).map { VirtioNetTests.frame(60 + 700 * $0, seed: UInt8(40 + $0)) }
        let saved = try VirtioNetTests.Setup()
        saved.fixture.bus.exclusively { for frame in frames { saved.net.enqueueReceived(frame) } }
        let state = saved.fixture.bus.exclusively { saved.fixture.function.saveState() }
        #expect(state.pendingInput == frames)

        // The same device on a machine brought to the same point (rings at the same place), then restored.
        let restored = try VirtioNetTests.Setup()
        try restored.fixture.bus.exclusively { try restored.fixture.function.restoreState(state) }
        #expect(restored.net.pendingFrames == 3)
        let receive = restored.fixture.driver.queues[VirtioNet.Queue.receive]
        for index in 0..<3 { try receive.post([.writable(Self.buffer + UInt64(index) * 0x1000, 2048)]) }
        restored.fixture.driver.notify(queue: 0)
        let used = try receive.takeUsed()
        #expect(used.count == 3)
        for (index, frame) in frames.enumerated() {
            let packet = try restored.fixture.memory.readBytes(
                at: GuestAddress(Self.buffer + UInt64(index) * 0x1000), count: VirtioNet.headerSize + frame.count)
            #expect(Array(packet.dropFirst(VirtioNet.headerSize)) == frame)
        }
    }

    @Test func consoleBytesSavedInTheBacklogReachTheRestoredGuest() throws {
        let input = Array("bytes the guest had not read when the machine was suspended".utf8)
        let saved = try VirtioConsoleTests.Setup()
        saved.fixture.bus.exclusively { _ = saved.console.enqueueInput(input) }
        let state = saved.fixture.bus.exclusively { saved.fixture.function.saveState() }

        let restored = try VirtioConsoleTests.Setup()
        try restored.fixture.bus.exclusively { try restored.fixture.function.restoreState(state) }
        let receive = restored.fixture.driver.queues[VirtioConsole.Queue.receive]
        try receive.post([.writable(Self.buffer, 4096)])
        restored.fixture.driver.notify(queue: 0)
        let used = try receive.takeUsed()
        #expect(used.map(\.length) == [UInt32(input.count)])
        #expect(try restored.fixture.memory.readBytes(at: GuestAddress(Self.buffer), count: input.count) == input)
    }

    @Test func aStateThatExceedsTheBacklogIsRefusedAndChangesNothing() throws {
        let setup = try VirtioNetTests.Setup()
        let function = setup.fixture.function
        var state = setup.fixture.bus.exclusively { function.saveState() }
        state.pendingInput = Array(repeating: [0x55], count: VirtioNet.receiveBacklogLimit + 1)
        #expect(throws: DeviceStateError.self) { try function.restoreState(state) }
        state.pendingInput = [[UInt8](repeating: 1, count: VirtioNet.maxFrameSize + 1)]
        #expect(throws: DeviceStateError.self) { try function.restoreState(state) }
        #expect(setup.net.pendingFrames == 0)

        let console = try VirtioConsoleTests.Setup()
        var consoleState = console.fixture.bus.exclusively { console.fixture.function.saveState() }
        consoleState.pendingInput = [[UInt8](repeating: 7, count: VirtioConsole.inputBacklogLimit), [7]]
        #expect(throws: DeviceStateError.self) { try console.fixture.function.restoreState(consoleState) }
        #expect(console.console.pendingInput == 0)

        let entropy = try VirtioDeviceFixture(model: VirtioEntropy(), name: "virtio-rng")
        var entropyState = entropy.function.saveState()
        entropyState.pendingInput = [[1]]
        #expect(throws: DeviceStateError.self) { try entropy.function.restoreState(entropyState) }
    }

    @Test func aStateSavedBeforeBacklogsWereSavedStillDecodes() throws {
        let setup = try VirtioNetTests.Setup()
        let state = setup.fixture.function.saveState()
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(state)) as? [String: Any])
        object.removeValue(forKey: "pendingInput")
        let old = try JSONDecoder().decode(VirtioPCIFunction.State.self,
                                           from: JSONSerialization.data(withJSONObject: object))
        #expect(old == state, "no pending input")
    }
}
