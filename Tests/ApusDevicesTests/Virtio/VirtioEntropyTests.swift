import ApusCore
import ApusDevices
import ApusTesting
import Testing

/// virtio-rng through the modern PCI transport, driven by the driver-side double.
@Suite struct VirtioEntropyTests {
    static let buffer = VirtioDeviceFixture.buffers

    @Test func itIdentifiesAsAModernEntropyDevice() throws {
        let fixture = try VirtioDeviceFixture(model: VirtioEntropy(), name: "virtio-rng")
        #expect(fixture.driver.configRead(0) == 0x1044_1AF4, "vendor 0x1AF4, device 0x1040 + 4")
        let accepted = try fixture.driver.initialise(features: ~0)
        #expect(accepted & VirtioFeature.version1 != 0)
        #expect(fixture.driver.queues.count == 1)
    }

    @Test func requestsAreFilledFromTheSourceAndBounded() throws {
        // A counting source shows exactly which bytes came from it and how many were asked for.
        var asked: [Int] = []
        var next: UInt8 = 0
        let entropy = VirtioEntropy(source: { buffer in
            asked.append(buffer.count)
            for i in 0..<buffer.count { buffer[i] = next; next &+= 1 }
            return true
        })
        let fixture = try VirtioDeviceFixture(model: entropy, name: "virtio-rng")
        _ = try fixture.driver.initialise(features: ~0)
        try fixture.memory.fill(0xEE, at: GuestAddress(Self.buffer), count: 0x20000)
        // Two buffers of one chain are one stream.
        try fixture.driver.queue.post([.writable(Self.buffer, 10), .writable(Self.buffer + 0x100, 6)])
        fixture.driver.notify()
        var used = try fixture.driver.queue.takeUsed()
        #expect(used.map(\.length) == [16])
        #expect(try fixture.memory.readBytes(at: GuestAddress(Self.buffer), count: 11) == Array(0..<10) + [0xEE])
        #expect(try fixture.memory.readBytes(at: GuestAddress(Self.buffer + 0x100), count: 7) == Array(10..<16) + [0xEE])

        // A buffer larger than the per-request bound gets the bound; the rest is untouched.
        let big = UInt32(VirtioEntropy.maxBytesPerRequest + 4096)
        try fixture.driver.queue.post([.writable(Self.buffer, big)])
        fixture.driver.notify()
        used = try fixture.driver.queue.takeUsed()
        #expect(used.map(\.length) == [UInt32(VirtioEntropy.maxBytesPerRequest)])
        #expect(asked == [16, VirtioEntropy.maxBytesPerRequest])
        #expect(try fixture.memory.read(UInt8.self, at: GuestAddress(Self.buffer + UInt64(VirtioEntropy.maxBytesPerRequest))) == 0xEE)
        #expect(!fixture.msi.delivered.isEmpty || fixture.intx.isAsserted, "completions interrupt the driver")
    }

    @Test func hostEntropyFillsTheBuffer() throws {
        let fixture = try VirtioDeviceFixture(model: VirtioEntropy(), name: "virtio-rng")
        _ = try fixture.driver.initialise(features: ~0)
        var samples: [[UInt8]] = []
        for _ in 0..<2 {
            try fixture.memory.fill(0, at: GuestAddress(Self.buffer), count: 64)
            try fixture.driver.queue.post([.writable(Self.buffer, 64)])
            fixture.driver.notify()
            #expect(try fixture.driver.queue.takeUsed().map(\.length) == [64])
            samples.append(try fixture.memory.readBytes(at: GuestAddress(Self.buffer), count: 64))
        }
        // 512 random bits: all zero, or the same twice, happens with probability 2^-512.
        #expect(samples[0] != [UInt8](repeating: 0, count: 64) && samples[0] != samples[1])
    }

    @Test func aFailingSourceCompletesEmptyAndLogsOnce() throws {
        let recorder = LineRecorder()
        let entropy = VirtioEntropy(source: { _ in false }, log: { recorder.append($0) })
        let failing = try VirtioDeviceFixture(model: entropy, name: "virtio-rng")
        _ = try failing.driver.initialise(features: ~0)
        for _ in 0..<3 {
            try failing.driver.queue.post([.writable(Self.buffer, 32)])
            failing.driver.notify()
            #expect(try failing.driver.queue.takeUsed().map(\.length) == [0])
        }
        #expect(recorder.all.count == 1)
        #expect(!failing.needsReset)
    }

    @Test func aReadableBufferIsADriverError() throws {
        let fixture = try VirtioDeviceFixture(model: VirtioEntropy(), name: "virtio-rng")
        _ = try fixture.driver.initialise(features: ~0)
        try fixture.driver.queue.post([.readable(Self.buffer, 16), .writable(Self.buffer + 16, 16)])
        fixture.driver.notify()
        #expect(fixture.needsReset)
        #expect(fixture.logLines.all.count == 1)
    }
}

extension VirtioEntropyTests {
    @Test func hundredThousandChainsEndInADefinedState() throws {
        let fixture = try VirtioDeviceFixture(model: VirtioEntropy(), name: "virtio-rng")
        let space = VirtioChainFuzz.writableData
        let fuzz = VirtioChainFuzz(
            fixture: fixture, queue: 0,
            valid: { random in [.writable(space, UInt32(random.next() % 5000)), .writable(space + 0x2000, 16)] },
            wrongDirection: { _ in [.readable(VirtioChainFuzz.readableData, 8), .writable(space, 8)] })
        let outcomes = try fuzz.run(cases: 100_000, seed: 0x4E6_0512)
        print("virtio-rng fuzz: 100000 cases:", outcomes.sorted { $0.key < $1.key })
    }
}
