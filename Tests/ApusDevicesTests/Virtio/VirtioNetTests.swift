import ApusCore
import ApusDevices
import ApusTesting
import Synchronization
import Testing

/// virtio-net through the modern PCI transport, driven by the driver-side double, with a recording backend.
@Suite struct VirtioNetTests {
    static let buffer = VirtioDeviceFixture.buffers
    static let mac: [UInt8] = [0x02, 0xA9, 0x00, 0x12, 0x34, 0x56]

    final class Setup {
        let sent = ByteRecorder()
        let net: VirtioNet
        let fixture: VirtioDeviceFixture
        init(initialise: Bool = true) throws {
            let sent = sent
            net = VirtioNet(mac: VirtioNetTests.mac, transmit: { sent.append($0) })
            fixture = try VirtioDeviceFixture(model: net, name: "virtio-net")
            if initialise { _ = try fixture.driver.initialise(features: ~0) }
        }
    }

    static func frame(_ length: Int, seed: UInt8) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ Int(seed)) }
    }

    @Test func itIdentifiesAsAModernNetworkDeviceWithItsMAC() throws {
        let setup = try Setup(initialise: false)
        let driver = setup.fixture.driver
        #expect(driver.configRead(0) == 0x1041_1AF4, "vendor 0x1AF4, device 0x1040 + 1")
        #expect(driver.configRead(0x08) >> 8 == 0x02_0000, "an Ethernet controller")
        let accepted = try driver.initialise(features: ~0)
        #expect(accepted & VirtioNet.Feature.mac != 0 && accepted & VirtioNet.Feature.status != 0)
        #expect((0..<6).map { UInt8(driver.deviceConfig(UInt64($0), size: 1)) } == Self.mac)
        #expect(driver.deviceConfig(6, size: 2) == 1, "link up")
        #expect(driver.queues.count == 2)
    }

    @Test func transmittedFramesLoseTheirHeaderAndReachTheBackend() throws {
        let setup = try Setup()
        let transmit = setup.fixture.driver.queues[VirtioNet.Queue.transmit]
        let frame = Self.frame(1514, seed: 1)
        // Linux puts the header and the frame in one buffer, or in two: both are one packet.
        try setup.fixture.memory.write([UInt8](repeating: 0, count: 12) + frame, at: GuestAddress(Self.buffer))
        try transmit.post([.readable(Self.buffer, 12 + 1514)])
        try transmit.post([.readable(Self.buffer, 12), .readable(Self.buffer + 12, 1514)])
        setup.fixture.driver.notify(queue: 1)
        #expect(try transmit.takeUsed().count == 2)
        #expect(setup.sent.all == [frame, frame])
        #expect(setup.net.counters.transmittedFrames == 2)
    }

    @Test func receivedFramesWaitForBuffersAndArriveBehindAHeader() throws {
        let setup = try Setup()
        let receive = setup.fixture.driver.queues[VirtioNet.Queue.receive]
        let frames = (0..<3).map { Self.frame(60 + 500 * $0, seed: UInt8($0)) }
        setup.fixture.bus.exclusively { for frame in frames { setup.net.enqueueReceived(frame) } }
        setup.fixture.service(queue: 0)
        #expect(setup.net.pendingFrames == 3, "no buffers yet")
        for index in 0..<3 { try receive.post([.writable(Self.buffer + UInt64(index) * 0x1000, 1526)]) }
        setup.fixture.driver.notify(queue: 0)
        let used = try receive.takeUsed()
        #expect(used.map(\.length) == frames.map { UInt32(12 + $0.count) })
        for (index, frame) in frames.enumerated() {
            let packet = try setup.fixture.memory.readBytes(at: GuestAddress(Self.buffer + UInt64(index) * 0x1000),
                                                            count: 12 + frame.count)
            #expect(Array(packet[0..<12]) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], "no offloads, num_buffers 1")
            #expect(Array(packet[12...]) == frame)
        }
        #expect(!setup.fixture.msi.delivered.isEmpty || setup.fixture.intx.isAsserted)
    }

    @Test func aFullBacklogRefusesFramesAndSaysWhenThereIsRoom() throws {
        let setup = try Setup()
        let woken = Atomic<Int>(0)
        setup.net.roomAvailable = { woken.add(1, ordering: .relaxed) }
        for index in 0..<VirtioNet.receiveBacklogLimit {
            #expect(setup.net.enqueueReceived(Self.frame(64, seed: UInt8(truncatingIfNeeded: index))))
        }
        #expect(!setup.net.enqueueReceived(Self.frame(64, seed: 0)), "full: the host reader keeps the frame")
        try setup.fixture.driver.queues[0].post([.writable(Self.buffer, 1526)])
        setup.fixture.driver.notify(queue: 0)
        #expect(setup.net.receiveRoom == 1 && woken.load(ordering: .relaxed) == 1)
    }

    @Test func aFrameLargerThanItsBufferIsDroppedAndCounted() throws {
        let setup = try Setup()
        setup.net.enqueueReceived(Self.frame(1000, seed: 9))
        try setup.fixture.driver.queues[0].post([.writable(Self.buffer, 500)])
        setup.fixture.driver.notify(queue: 0)
        #expect(try setup.fixture.driver.queues[0].takeUsed().map(\.length) == [0])
        #expect(setup.net.counters.oversizedFrames == 1 && !setup.fixture.needsReset)
    }

    @Test func aTransmitShorterThanTheHeaderIsADriverError() throws {
        let setup = try Setup()
        try setup.fixture.driver.queues[1].post([.readable(Self.buffer, 11)])
        setup.fixture.driver.notify(queue: 1)
        #expect(setup.fixture.needsReset && setup.sent.all.isEmpty)
    }

    @Test func resetDropsTheBacklog() throws {
        let setup = try Setup()
        setup.net.enqueueReceived(Self.frame(64, seed: 1))
        setup.fixture.driver.setCommon(0x14, 0, size: 1)
        #expect(setup.net.pendingFrames == 0)
    }

    @Test(arguments: [VirtioNet.Queue.receive, VirtioNet.Queue.transmit])
    func hundredThousandChainsEndInADefinedState(queue: Int) throws {
        let setup = try Setup()
        let data = VirtioChainFuzz.readableData, space = VirtioChainFuzz.writableData
        let transmit = queue == VirtioNet.Queue.transmit
        var random = SplitMix64(seed: 7)
        let fuzz = VirtioChainFuzz(
            fixture: setup.fixture, queue: queue,
            valid: { random in
                let length = UInt32(12 + random.next() % 2000)
                return transmit ? [.readable(data, 12), .readable(data + 0x100, length)]
                    : [.writable(space, length)]
            },
            wrongDirection: { _ in [.readable(data, 12), .writable(space, 64)] },
            beforeNotify: {
                if !transmit { setup.net.enqueueReceived(Self.frame(Int(14 + random.next() % 1500), seed: 3)) }
            })
        let outcomes = try fuzz.run(cases: 100_000, seed: 0x4E_0512 + UInt64(queue))
        print("virtio-net fuzz, queue \(queue): 100000 cases:", outcomes.sorted { $0.key < $1.key },
              "counters:", setup.net.counters)
    }
}
