import ApusCore
import ApusDevices
import ApusTesting
import Synchronization
import Testing

/// Bytes a device handed to the host.
final class ByteRecorder: Sendable {
    private let chunks = Mutex<[[UInt8]]>([])
    func append(_ bytes: [UInt8]) { chunks.withLock { $0.append(bytes) } }
    var all: [[UInt8]] { chunks.withLock { $0 } }
}

/// virtio-console's port 0 through the modern PCI transport, driven by the driver-side double.
@Suite struct VirtioConsoleTests {
    static let buffer = VirtioDeviceFixture.buffers

    final class Setup {
        let output = ByteRecorder()
        let console: VirtioConsole
        let fixture: VirtioDeviceFixture
        init() throws {
            let output = output
            console = VirtioConsole(output: { output.append($0) })
            fixture = try VirtioDeviceFixture(model: console, name: "virtio-console")
            _ = try fixture.driver.initialise(features: ~0)
        }
    }

    @Test func itIdentifiesAsAModernConsoleWithTwoQueues() throws {
        let setup = try Setup()
        #expect(setup.fixture.driver.configRead(0) == 0x1043_1AF4, "vendor 0x1AF4, device 0x1040 + 3")
        #expect(setup.fixture.driver.queues.count == 2, "port 0's receiveq and transmitq")
    }

    @Test func guestBytesReachTheHostInOrder() throws {
        let setup = try Setup()
        let transmit = setup.fixture.driver.queues[VirtioConsole.Queue.transmit]
        try setup.fixture.memory.write(Array("hello, ".utf8), at: GuestAddress(Self.buffer))
        try setup.fixture.memory.write(Array("host\n".utf8), at: GuestAddress(Self.buffer + 0x100))
        try transmit.post([.readable(Self.buffer, 7), .readable(Self.buffer + 0x100, 5)])
        try transmit.post([.readable(Self.buffer + 0x100, 4)])
        setup.fixture.driver.notify(queue: 1)
        #expect(try transmit.takeUsed().map(\.length) == [0, 0])
        #expect(setup.output.all == [Array("hello, host\n".utf8), Array("host".utf8)])
    }

    @Test func hostBytesWaitForReceiveBuffersAndNoneIsLost() throws {
        let setup = try Setup()
        let receive = setup.fixture.driver.queues[VirtioConsole.Queue.receive]
        let woken = Atomic<Int>(0)
        setup.console.roomAvailable = { woken.add(1, ordering: .relaxed) }
        // More than the backlog holds: the rest is refused, not dropped, so the host reader keeps it.
        let input = (0..<VirtioConsole.inputBacklogLimit + 100).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let accepted = setup.fixture.bus.exclusively { setup.console.enqueueInput(input) }
        #expect(accepted == VirtioConsole.inputBacklogLimit)
        #expect(setup.console.inputRoom == 0)
        setup.fixture.service(queue: 0)  // no buffers posted yet: nothing happens
        var received: [UInt8] = []
        while received.count < accepted {
            try receive.post([.writable(Self.buffer, 3000), .writable(Self.buffer + 0x1000, 1096)])
            setup.fixture.driver.notify(queue: 0)
            for entry in try receive.takeUsed() {
                let first = try setup.fixture.memory.readBytes(at: GuestAddress(Self.buffer), count: min(3000, Int(entry.length)))
                received += first
                if entry.length > 3000 {
                    received += try setup.fixture.memory.readBytes(at: GuestAddress(Self.buffer + 0x1000),
                                                                   count: Int(entry.length) - 3000)
                }
            }
        }
        #expect(received == Array(input.prefix(accepted)))
        #expect(woken.load(ordering: .relaxed) == 1, "the host reader is told once that room appeared")
        #expect(setup.console.pendingInput == 0)
    }

    @Test func aWritableTransmitBufferIsADriverError() throws {
        let setup = try Setup()
        try setup.fixture.driver.queues[1].post([.readable(Self.buffer, 4), .writable(Self.buffer + 16, 4)])
        setup.fixture.driver.notify(queue: 1)
        #expect(setup.fixture.needsReset)
        #expect(setup.output.all.isEmpty)
    }

    @Test(arguments: [VirtioConsole.Queue.receive, VirtioConsole.Queue.transmit])
    func hundredThousandChainsEndInADefinedState(queue: Int) throws {
        let setup = try Setup()
        let data = VirtioChainFuzz.readableData, space = VirtioChainFuzz.writableData
        let readable = queue == VirtioConsole.Queue.transmit
        let fuzz = VirtioChainFuzz(
            fixture: setup.fixture, queue: queue,
            valid: { random in
                let length = UInt32(1 + random.next() % 4096)
                return readable ? [.readable(data, length), .readable(data + 0x2000, length / 2 + 1)]
                    : [.writable(space, length), .writable(space + 0x2000, length / 2 + 1)]
            },
            wrongDirection: { _ in
                readable ? [.readable(data, 8), .writable(space, 8)] : [.readable(data, 8), .writable(space, 8)]
            },
            beforeNotify: { if !readable { setup.console.enqueueInput([UInt8](repeating: 0x41, count: 100)) } })
        let outcomes = try fuzz.run(cases: 100_000, seed: 0xC0_0512 + UInt64(queue))
        print("virtio-console fuzz, queue \(queue): 100000 cases:", outcomes.sorted { $0.key < $1.key })
    }
}
