import ApusCore
import ApusDevices
import ApusTesting
import Testing

/// 120,000 seeded random and adversarial chains through the driver double. Each case is built so the test knows the
/// outcome it must end in — a delivered chain equal to what was posted, or a named refusal (the device's
/// needs-reset) — and the device must never write the driver's descriptor table or available ring.
@Suite struct VirtqueueFuzzTests {
    /// Two RAM regions with a hole between them, so "outside RAM" includes a gap as well as the ends.
    static let lowRAM: (UInt64, UInt64) = (0, 0x1_0000)
    static let highRAM: (UInt64, UInt64) = (0x2_0000, 0x3_0000)
    static let ringBase: UInt64 = 0x1000
    static let indirectTable: UInt64 = 0x4000
    static let queueSize: UInt16 = 32

    enum Kind: CaseIterable {
        case direct, indirect, zeroLength, loop, outsideRAM, hugeLength, wrongDirection, badIndirectLength,
             indirectOutsideRAM, nestedIndirect, indirectWithNext, nextOutOfRange, headOutOfRange, availTooFar,
             garbage
    }

    enum Outcome: Equatable {
        case delivered(readable: [GuestBuffer], writable: [GuestBuffer])
        case refused
        /// Random bytes: either outcome is fine, as long as it is one of the two and well-formed.
        case either
    }

    @Test func hundredThousandChainsEndInADefinedState() throws {
        let memory = try GuestMemory(layout: [(GuestAddress(Self.lowRAM.0), Self.lowRAM.1),
                                              (GuestAddress(Self.highRAM.0), Self.highRAM.1 - Self.highRAM.0)])
        var random = SplitMix64(seed: 0x5EED_0012)
        var counts: [String: Int] = [:]
        let cases = 120_000
        for number in 0..<cases {
            let kind = Kind.allCases[Int(random.next() % UInt64(Kind.allCases.count))]
            let driver = try VirtqueueDriver(memory: memory, size: Self.queueSize, base: GuestAddress(Self.ringBase))
            var queue = SplitVirtqueue(size: Self.queueSize, descriptorTable: driver.descriptorTable,
                                       availableRing: driver.availableRing, usedRing: driver.usedRing)
            try queue.validateLayout(in: memory)
            let expected = try post(kind, driver, memory, &random)
            let protectedBefore = try memory.readBytes(at: GuestAddress(Self.ringBase),
                                                       count: Int(driver.usedRing.rawValue - Self.ringBase))
            var outcome: Outcome
            do {
                if let chain = try queue.pop(from: memory) {
                    for buffer in chain.readable + chain.writable {
                        #expect(memory.contains(buffer.address, length: Int(buffer.length)))
                    }
                    // The device fills every writable byte, then returns the chain.
                    var cursor = GuestBufferCursor(chain.writable)
                    let fill = [UInt8](repeating: 0xEE, count: Int(chain.writableLength))
                    _ = try fill.withUnsafeBytes { try cursor.write($0, to: memory) }
                    try queue.pushUsed(head: chain.head, writtenLength: UInt32(chain.writableLength), to: memory)
                    let used = try driver.takeUsed()
                    #expect(used.count == 1 && used.first?.head == chain.head)
                    outcome = .delivered(readable: chain.readable, writable: chain.writable)
                } else {
                    Issue.record("case \(number) (\(kind)): nothing was taken off the ring")
                    continue
                }
            } catch {
                outcome = .refused
                // Counted by case name (the payloads vary).
                counts["refused: " + (Mirror(reflecting: error).children.first?.label ?? "\(error)"), default: 0] += 1
            }
            switch expected {
            case .either: break
            default: #expect(outcome == expected, "case \(number) (\(kind))")
            }
            // Writable buffers in these cases never overlap the rings, so the driver's side must be intact.
            if kind != .garbage {
                let protectedAfter = try memory.readBytes(at: GuestAddress(Self.ringBase), count: protectedBefore.count)
                #expect(protectedAfter == protectedBefore, "case \(number) (\(kind)) wrote the driver's rings")
            }
            counts["\(kind)", default: 0] += 1
        }
        #expect(counts.filter { !$0.key.hasPrefix("refused") }.values.reduce(0, +) == cases)
        print("virtqueue fuzz: \(cases) cases:", counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
    }

    // MARK: - Case builders

    private func dataAddress(_ length: UInt32, _ random: inout SplitMix64) -> UInt64 {
        // Data lives above the rings and indirect table in low RAM, or anywhere in high RAM.
        if random.next() & 1 == 0 {
            let start: UInt64 = 0x5000
            return start + random.next() % (Self.lowRAM.1 - start - UInt64(length))
        }
        return Self.highRAM.0 + random.next() % (Self.highRAM.1 - Self.highRAM.0 - UInt64(length))
    }

    private func validBuffers(_ random: inout SplitMix64, count: Int? = nil) -> [VirtqueueDriver.Buffer] {
        let total = count ?? Int(1 + random.next() % 8)
        let readable = Int(random.next() % UInt64(total + 1))
        return (0..<total).map { index in
            let length = UInt32(1 + random.next() % 4096)
            return VirtqueueDriver.Buffer(address: GuestAddress(dataAddress(length, &random)), length: length,
                                          deviceWritable: index >= readable)
        }
    }

    private func delivered(_ buffers: [VirtqueueDriver.Buffer]) -> Outcome {
        let nonEmpty = buffers.filter { $0.length > 0 }
        let guest = { (b: VirtqueueDriver.Buffer) in GuestBuffer(address: b.address, length: b.length) }
        return .delivered(readable: nonEmpty.filter { !$0.deviceWritable }.map(guest),
                          writable: nonEmpty.filter { $0.deviceWritable }.map(guest))
    }

    private func outsideAddress(_ random: inout SplitMix64) -> UInt64 {
        switch random.next() % 4 {
        case 0: return Self.lowRAM.1 + random.next() % (Self.highRAM.0 - Self.lowRAM.1)   // the hole
        case 1: return Self.highRAM.1 + random.next() % (1 << 40)                          // above RAM
        case 2: return UInt64.max - random.next() % 4096                                   // wraps
        default: return Self.lowRAM.1 - 1                                                  // straddles the end
        }
    }

    private func post(_ kind: Kind, _ driver: VirtqueueDriver, _ memory: GuestMemory,
                      _ random: inout SplitMix64) throws -> Outcome {
        let table = GuestAddress(Self.indirectTable)
        switch kind {
        case .direct:
            let buffers = validBuffers(&random)
            try driver.post(buffers)
            return delivered(buffers)
        case .indirect:
            let count = Int(1 + random.next() % UInt64(Self.queueSize))
            let buffers = validBuffers(&random, count: count)
            try driver.postIndirect(buffers, table: table)
            return delivered(buffers)
        case .zeroLength:
            var buffers = validBuffers(&random)
            let victim = Int(random.next() % UInt64(buffers.count))
            buffers[victim].length = 0
            // A zero-length buffer carries nothing, wherever it points.
            if random.next() & 1 == 0 { buffers[victim].address = GuestAddress(outsideAddress(&random)) }
            try driver.post(buffers)
            return delivered(buffers)
        case .loop:
            let length = Int(2 + random.next() % 6)
            for index in 0..<length {
                let next = index == length - 1 ? UInt16(random.next() % UInt64(length)) : UInt16(index + 1)
                try driver.writeDescriptor(index: UInt16(index), address: dataAddress(64, &random), length: 64,
                                           flags: VirtqueueDriver.flagNext, next: next)
            }
            try driver.publish(head: 0)
            return .refused
        case .outsideRAM, .hugeLength:
            var buffers = validBuffers(&random)
            let victim = Int(random.next() % UInt64(buffers.count))
            if kind == .outsideRAM {
                buffers[victim].address = GuestAddress(outsideAddress(&random))
                buffers[victim].length = max(buffers[victim].length, 2)
            } else {
                buffers[victim].length = UInt32(0x1_0000 + random.next() % (UInt64(UInt32.max) - 0x1_0000))
            }
            try driver.post(buffers)
            return .refused
        case .wrongDirection:
            let count = Int(2 + random.next() % 6)
            var buffers = validBuffers(&random, count: count)
            let writable = Int(random.next() % UInt64(buffers.count - 1))
            for index in buffers.indices { buffers[index].deviceWritable = index == writable }
            try driver.post(buffers)
            return .refused
        case .badIndirectLength:
            let length: UInt32 = [0, 8, 17, 33][Int(random.next() % 4)]
            try driver.writeDescriptor(index: 0, address: table.rawValue, length: length,
                                       flags: VirtqueueDriver.flagIndirect, next: 0)
            try driver.publish(head: 0)
            return .refused
        case .indirectOutsideRAM:
            try driver.writeDescriptor(index: 0, address: outsideAddress(&random), length: 32,
                                       flags: VirtqueueDriver.flagIndirect, next: 0)
            try driver.publish(head: 0)
            return .refused
        case .nestedIndirect, .indirectWithNext, .nextOutOfRange:
            let buffers = validBuffers(&random, count: 3)
            try driver.postIndirect(buffers, table: table)
            let entry = UInt16(random.next() % 3)
            let slot = Self.indirectTable + 16 * UInt64(entry)
            switch kind {
            case .nestedIndirect:
                try memory.write(VirtqueueDriver.flagIndirect, at: GuestAddress(slot + 12))
                try memory.write(UInt32(16), at: GuestAddress(slot + 8))
            case .indirectWithNext:
                // In the ring descriptor (the one pointing at the table).
                try driver.writeDescriptor(index: 0, address: table.rawValue, length: 48,
                                           flags: VirtqueueDriver.flagIndirect | VirtqueueDriver.flagNext, next: 1)
            default:
                try memory.write(VirtqueueDriver.flagNext, at: GuestAddress(slot + 12))
                try memory.write(UInt16(3 + random.next() % 1000), at: GuestAddress(slot + 14))
            }
            return .refused
        case .headOutOfRange:
            try driver.publish(head: Self.queueSize + UInt16(random.next() % 1000))
            return .refused
        case .availTooFar:
            try driver.forceAvailableIndex(Self.queueSize + 1 + UInt16(random.next() % 30000))
            return .refused
        case .garbage:
            var bytes = [UInt8](repeating: 0, count: 16 * Int(Self.queueSize))
            for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: random.next()) }
            // Flags keep only the three defined bits half the time, so real chains come out of the noise too.
            for entry in 0..<Int(Self.queueSize) where random.next() & 1 == 0 {
                bytes[16 * entry + 12] &= 7
                bytes[16 * entry + 13] = 0
                bytes[16 * entry + 14] &= UInt8(Self.queueSize - 1)
                bytes[16 * entry + 15] = 0
            }
            try memory.write(bytes, at: driver.descriptorTable)
            try driver.publish(head: UInt16(random.next() % UInt64(Self.queueSize)))
            return .either
        }
    }
}
