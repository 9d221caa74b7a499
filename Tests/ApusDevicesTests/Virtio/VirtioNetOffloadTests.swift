import ApusCore
import ApusDevices
import ApusTesting
import Synchronization
import Testing

/// virtio-net over a backend that carries the virtio_net_hdr itself (a TAP with IFF_VNET_HDR): the offloads it
/// offers, the header crossing unchanged both ways, and packets the driver's choice of features cannot take.
@Suite struct VirtioNetOffloadTests {
    static let buffer = VirtioDeviceFixture.buffers
    static let tcpSegment: UInt8 = 1  // VIRTIO_NET_HDR_GSO_TCPV4
    static let needsChecksum: UInt8 = 1
    static let dataValid: UInt8 = 2

    /// What the device told the backend it may deliver, in order.
    final class OffloadRecorder: Sendable {
        private let choices = Mutex<[VirtioNet.ReceiveOffloads]>([])
        func append(_ choice: VirtioNet.ReceiveOffloads) { choices.withLock { $0.append(choice) } }
        var all: [VirtioNet.ReceiveOffloads] { choices.withLock { $0 } }
    }

    final class Setup {
        let sent = ByteRecorder()
        let offloads = OffloadRecorder()
        let net: VirtioNet
        let fixture: VirtioDeviceFixture
        let accepted: UInt64
        init(features: UInt64 = ~0) throws {
            let sent = sent
            net = VirtioNet(mac: VirtioNetTests.mac, headerPassthrough: true, transmit: { sent.append($0) })
            let offloads = offloads
            net.receiveOffloadsChanged = { offloads.append($0) }
            fixture = try VirtioDeviceFixture(model: net, name: "virtio-net")
            accepted = try fixture.driver.initialise(features: features)
        }
    }

    /// A virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers.
    static func header(flags: UInt8 = 0, gso: UInt8 = 0, gsoSize: UInt16 = 0, numBuffers: UInt16 = 0) -> [UInt8] {
        [flags, gso, 54, 0, UInt8(gsoSize & 0xFF), UInt8(gsoSize >> 8), 34, 0, 16, 0,
         UInt8(numBuffers & 0xFF), UInt8(numBuffers >> 8)]
    }

    @Test func offloadsAreOfferedOnlyOverAHeaderCarryingBackend() throws {
        let setup = try Setup()
        #expect(setup.accepted & VirtioNet.Feature.offloads == VirtioNet.Feature.offloads)
        #expect(setup.offloads.all.last == [.checksum, .tso4, .tso6, .ecn])
        let bare = VirtioNet(mac: VirtioNetTests.mac, transmit: { _ in })
        #expect(bare.offeredFeatures & VirtioNet.Feature.offloads == 0)
        setup.fixture.driver.setCommon(0x14, 0, size: 1)
        #expect(setup.offloads.all.last == [], "a reset takes the offloads back from the host")
    }

    @Test func theGuestsHeaderReachesTheBackendWithALargeSegment() throws {
        let setup = try Setup()
        let transmit = setup.fixture.driver.queues[VirtioNet.Queue.transmit]
        let segment = VirtioNetTests.frame(20_000, seed: 5)
        let header = Self.header(flags: Self.needsChecksum, gso: Self.tcpSegment, gsoSize: 1448)
        try setup.fixture.memory.write(header + segment, at: GuestAddress(Self.buffer))
        try transmit.post([.readable(Self.buffer, 12), .readable(Self.buffer + 12, UInt32(segment.count))])
        setup.fixture.driver.notify(queue: 1)
        #expect(try transmit.takeUsed().count == 1)
        #expect(setup.sent.all == [header + segment])
    }

    @Test func theBackendsHeaderReachesTheGuestWithOneBuffer() throws {
        let setup = try Setup()
        let receive = setup.fixture.driver.queues[VirtioNet.Queue.receive]
        let segment = VirtioNetTests.frame(30_000, seed: 6)
        // A TAP leaves num_buffers unwritten: whatever its reader's buffer held there arrives with the packet.
        let header = Self.header(flags: Self.needsChecksum, gso: Self.tcpSegment, gsoSize: 1448, numBuffers: 0x0509)
        setup.fixture.bus.exclusively { _ = setup.net.enqueueReceived(header + segment) }
        try receive.post([.writable(Self.buffer, 0x1_0000)])
        setup.fixture.driver.notify(queue: 0)
        #expect(try receive.takeUsed().map(\.length) == [UInt32(12 + segment.count)])
        let arrived = try setup.fixture.memory.readBytes(at: GuestAddress(Self.buffer), count: 12 + segment.count)
        #expect(Array(arrived[0..<12]) == Self.header(flags: Self.needsChecksum, gso: Self.tcpSegment, gsoSize: 1448,
                                                      numBuffers: 1))
        #expect(Array(arrived[12...]) == segment)
    }

    @Test func packetsTheDriverDidNotAcceptAreRefusedNotDelivered() throws {
        let setup = try Setup(features: VirtioFeature.version1 | VirtioNet.Feature.mac)
        #expect(setup.offloads.all.last == [], "nothing accepted, nothing delivered offloaded")
        let receive = setup.fixture.driver.queues[VirtioNet.Queue.receive]
        let frame = VirtioNetTests.frame(1000, seed: 7)
        setup.fixture.bus.exclusively {
            _ = setup.net.enqueueReceived(Self.header(gso: Self.tcpSegment, gsoSize: 500) + frame)
            _ = setup.net.enqueueReceived(Self.header(flags: Self.needsChecksum) + frame)
            _ = setup.net.enqueueReceived([1, 2, 3])
            _ = setup.net.enqueueReceived(Self.header(flags: Self.dataValid) + frame)
        }
        for index in 0..<4 { try receive.post([.writable(Self.buffer + UInt64(index) * 0x1000, 2048)]) }
        setup.fixture.driver.notify(queue: 0)
        #expect(try receive.takeUsed().map(\.length) == [0, 0, 0, UInt32(12 + frame.count)])
        #expect(setup.net.counters.refusedFrames == 3 && !setup.fixture.needsReset)
        let delivered = try setup.fixture.memory.readBytes(at: GuestAddress(Self.buffer + 0x3000), count: 12)
        #expect(delivered == Self.header(numBuffers: 1), "DATA_VALID is for a driver that accepted GUEST_CSUM only")
    }
}
