import ApusCore
import ApusDevices
import ApusDisk
import ApusTesting
import Foundation
import Testing

/// 100,000 seeded requests into virtio-blk through the PCI transport and the driver double: well-formed requests of
/// every type with random (often wrong) sectors and lengths, and hostile chains. Each case must end defined: either
/// the chain comes back used with a status byte of OK, IOERR or UNSUPP, or the device is in DEVICE_NEEDS_RESET (and
/// the driver resets it). The device never writes the driver's descriptor table, available ring or request header.
@Suite struct VirtioBlockFuzzTests {
    enum Kind: CaseIterable {
        case request, indirectRequest, loop, outsideRAM, wrongDirection, shortHeader, noStatus, badIndirect, headOut
    }

    @Test func hundredThousandRequestsEndInADefinedState() throws {
        // The image goes to tmpfs when there is one: the fuzz is about the protocol, and thousands of flush requests
        // would otherwise wait for a shared disk.
        let tmpfs = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let fixture = try VirtioBlockTests.Fixture(qcow2: true, parent: tmpfs)
        let memory = fixture.memory
        _ = try fixture.driver.initialise(features: ~0, queueSize: 16)
        var random = SplitMix64(seed: 0xB10C_0012)
        let capacity = UInt64(4 << 20) / 512
        var outcomes: [String: Int] = [:]
        let cases = 100_000
        for number in 0..<cases {
            let kind = Kind.allCases[Int(random.next() % UInt64(Kind.allCases.count))]
            let queue = fixture.driver.queue!
            // A request header: a random type (mostly valid ones) and a sector near or beyond the end.
            let type = [0, 1, 4, 8, 11, 0, 1, UInt32(random.next() % 32)][Int(random.next() % 8)]
            let sector = random.next() & 1 == 0 ? random.next() % capacity : capacity - 8 + random.next() % 16
            var header = [UInt8](repeating: 0, count: 16)
            for i in 0..<4 { header[i] = UInt8(truncatingIfNeeded: type >> (8 * UInt32(i))) }
            for i in 0..<8 { header[8 + i] = UInt8(truncatingIfNeeded: sector >> (8 * UInt64(i))) }
            try memory.write(header, at: GuestAddress(VirtioBlockTests.header))
            if type == 11 {
                // A discard segment, sometimes sane.
                var segment = [UInt8](repeating: 0, count: 16)
                let count = random.next() % 64
                for i in 0..<8 { segment[i] = UInt8(truncatingIfNeeded: sector >> (8 * UInt64(i))) }
                for i in 0..<4 { segment[8 + i] = UInt8(truncatingIfNeeded: count >> (8 * UInt64(i))) }
                try memory.write(segment, at: GuestAddress(VirtioBlockTests.data))
            }
            let length = UInt32([512, 1024, 4096, 16, 20, 100, 8192][Int(random.next() % 7)])
            let dataBuffer: VirtqueueDriver.Buffer = type == 0 || type == 8
                ? .writable(VirtioBlockTests.data, length) : .readable(VirtioBlockTests.data, length)
            let status = VirtqueueDriver.Buffer.writable(VirtioBlockTests.status, 1)
            let headerBuffer = VirtqueueDriver.Buffer.readable(VirtioBlockTests.header, 16)
            var expectReset = true
            switch kind {
            case .request:
                try queue.post(type == 4 ? [headerBuffer, status] : [headerBuffer, dataBuffer, status])
                expectReset = false
            case .indirectRequest:
                try queue.postIndirect([headerBuffer, dataBuffer, status], table: GuestAddress(0x70000))
                expectReset = false
            case .loop:
                try queue.writeDescriptor(index: 0, address: VirtioBlockTests.header, length: 16, flags: 1, next: 1)
                try queue.writeDescriptor(index: 1, address: VirtioBlockTests.data, length: 16, flags: 1, next: 0)
                try queue.publish(head: 0)
            case .outsideRAM:
                let choices: [UInt64] = [8 << 20, UInt64.max - 100, (8 << 20) - 10]
                let address = choices[Int(random.next() % 3)]
                try queue.post([headerBuffer, .writable(address, length), status])
            case .wrongDirection:
                try queue.post([headerBuffer, status, .readable(VirtioBlockTests.data, length)])
            case .shortHeader:
                try queue.post([.readable(VirtioBlockTests.header, UInt32(random.next() % 16)), status])
            case .noStatus:
                try queue.post([headerBuffer, .readable(VirtioBlockTests.data, length)])
            case .badIndirect:
                try queue.writeDescriptor(index: 0, address: 0x70000, length: UInt32(random.next() % 16) * 16 + 8,
                                          flags: 4, next: 0)
                try queue.publish(head: 0)
            case .headOut:
                try queue.publish(head: 16 + UInt16(random.next() % 100))
            }
            let protected = try memory.readBytes(at: queue.descriptorTable,
                                                 count: Int(queue.usedRing.rawValue - queue.descriptorTable.rawValue))
            try memory.write([UInt8(0xEE)], at: GuestAddress(VirtioBlockTests.status))
            fixture.driver.notify()
            #expect(try memory.readBytes(at: queue.descriptorTable, count: protected.count) == protected,
                    "case \(number): the device wrote the driver's rings")
            #expect(try memory.readBytes(at: GuestAddress(VirtioBlockTests.header), count: 16) == header,
                    "case \(number): the device wrote a readable buffer")
            if fixture.driver.status & VirtioStatus.needsReset != 0 {
                #expect(expectReset, "case \(number) (\(kind)): a well-formed request needed a reset")
                outcomes["needs reset", default: 0] += 1
                _ = try fixture.driver.initialise(features: ~0, queueSize: 16)
            } else {
                let used = try queue.takeUsed()
                let statusByte = try memory.read(UInt8.self, at: GuestAddress(VirtioBlockTests.status))
                #expect(!expectReset, "case \(number) (\(kind)) was accepted")
                #expect(used.count == 1 && [0, 1, 2].contains(statusByte), "case \(number) (\(kind))")
                outcomes["status \(statusByte)", default: 0] += 1
            }
        }
        #expect(fixture.logLines.all.count == outcomes["needs reset"] ?? 0, "one log line per reset")
        try fixture.disk.flush()
        print("virtio-blk fuzz: \(cases) cases:", outcomes.sorted { $0.key < $1.key })
    }
}
