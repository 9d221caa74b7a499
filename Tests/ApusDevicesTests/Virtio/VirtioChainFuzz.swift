import ApusCore
import ApusDevices
import ApusTesting
import Testing

/// Seeded random and adversarial descriptor chains posted to one queue of a device through the PCI transport. Every
/// case must end defined: a well-formed chain comes back used (one entry) with the device still running; a hostile
/// one (a loop, a buffer outside RAM, a buffer in the wrong direction, a bad indirect table, a head outside the table)
/// puts the device into DEVICE_NEEDS_RESET, after which the driver resets it; random descriptors may do either. The
/// device never writes the driver's descriptor table or available ring, nor any driver-readable buffer.
struct VirtioChainFuzz {
    enum Kind: CaseIterable { case valid, validIndirect, loop, outsideRAM, wrongDirection, badIndirect, headOut, random }

    /// Where chains' buffers point: driver-readable data (a pattern the device must not change), then writable space.
    static let readableData: UInt64 = VirtioDeviceFixture.buffers
    static let writableData: UInt64 = VirtioDeviceFixture.buffers + 0x10000
    static let dataSize: UInt64 = 0x10000
    static let queueSize: UInt16 = 16

    let fixture: VirtioDeviceFixture
    let queue: Int
    /// A well-formed chain for this queue.
    let valid: (inout SplitMix64) -> [VirtqueueDriver.Buffer]
    /// A chain with a buffer in the direction this queue forbids.
    let wrongDirection: (inout SplitMix64) -> [VirtqueueDriver.Buffer]
    /// Runs before each notification (a receive queue gets host data to deliver).
    var beforeNotify: () -> Void = {}

    /// Runs `cases` cases; returns how many ended which way.
    func run(cases: Int, seed: UInt64) throws -> [String: Int] {
        let memory = fixture.memory
        var random = SplitMix64(seed: seed)
        let pattern = (0..<Int(Self.dataSize)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try memory.write(pattern, at: GuestAddress(Self.readableData))
        _ = try fixture.driver.initialise(features: ~0, queueSize: Self.queueSize)
        var outcomes: [String: Int] = [:]
        for number in 0..<cases {
            let kind = Kind.allCases[Int(random.next() % UInt64(Kind.allCases.count))]
            let ring = fixture.driver.queues[queue]
            var expectReset: Bool? = true
            switch kind {
            case .valid:
                try ring.post(valid(&random))
                expectReset = false
            case .validIndirect:
                try ring.postIndirect(valid(&random), table: GuestAddress(VirtioDeviceFixture.indirectTable))
                expectReset = false
            case .loop:
                try ring.writeDescriptor(index: 0, address: Self.writableData, length: 16, flags: 3, next: 1)
                try ring.writeDescriptor(index: 1, address: Self.writableData, length: 16, flags: 3, next: 0)
                try ring.publish(head: 0)
            case .outsideRAM:
                let choices: [UInt64] = [VirtioDeviceFixture.memorySize, UInt64.max - 100,
                                         VirtioDeviceFixture.memorySize - 10]
                var chain = valid(&random)
                chain[Int(random.next() % UInt64(chain.count))].address = GuestAddress(choices[Int(random.next() % 3)])
                chain = chain.map { buffer in
                    var buffer = buffer
                    if buffer.address.rawValue >= VirtioDeviceFixture.memorySize - 10 { buffer.length = max(buffer.length, 11) }
                    return buffer
                }
                try ring.post(chain)
            case .wrongDirection:
                try ring.post(wrongDirection(&random))
            case .badIndirect:
                try ring.writeDescriptor(index: 0, address: VirtioDeviceFixture.indirectTable,
                                         length: UInt32(random.next() % 16) * 16 + 8, flags: 4, next: 0)
                try ring.publish(head: 0)
            case .headOut:
                try ring.publish(head: Self.queueSize + UInt16(random.next() % 100))
            case .random:
                // Anything a driver could write, except buffers over the rings themselves.
                let count = 1 + Int(random.next() % 3)
                for index in 0..<count {
                    let base = [Self.readableData, Self.writableData, VirtioDeviceFixture.memorySize - 64,
                                random.next()][Int(random.next() % 4)]
                    var flags = UInt16(random.next() % 8) & ~(index == count - 1 ? 1 : 0)
                    if base == Self.readableData { flags &= ~2 }  // the pattern stays driver-readable
                    try ring.writeDescriptor(index: UInt16(index), address: base + random.next() % 0x8000,
                                             length: UInt32(random.next() % 0x9000), flags: flags,
                                             next: UInt16(random.next() % 20))
                }
                try ring.publish(head: 0)
                expectReset = nil
            }
            let protectedLength = Int(ring.usedRing.rawValue - ring.descriptorTable.rawValue)
            let rings = try memory.readBytes(at: ring.descriptorTable, count: protectedLength)
            beforeNotify()
            fixture.driver.notify(queue: UInt64(queue))
            #expect(try memory.readBytes(at: ring.descriptorTable, count: protectedLength) == rings,
                    "case \(number) (\(kind)): the device wrote the driver's rings")
            #expect(try memory.readBytes(at: GuestAddress(Self.readableData), count: pattern.count) == pattern,
                    "case \(number) (\(kind)): the device wrote a driver-readable buffer")
            if fixture.needsReset {
                #expect(expectReset != false, "case \(number) (\(kind)): a well-formed chain needed a reset")
                outcomes["needs reset", default: 0] += 1
                _ = try fixture.driver.initialise(features: ~0, queueSize: Self.queueSize)
            } else {
                let used = try ring.takeUsed()
                #expect(expectReset != true, "case \(number) (\(kind)) was accepted")
                #expect(used.count == 1, "case \(number) (\(kind)): \(used.count) used entries")
                outcomes["used", default: 0] += 1
            }
        }
        #expect(fixture.logLines.all.count == outcomes["needs reset"] ?? 0, "one log line per reset")
        return outcomes
    }
}
