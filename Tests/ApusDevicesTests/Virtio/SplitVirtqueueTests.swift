import ApusCore
import ApusDevices
import ApusTesting
import Testing

/// The split virtqueue against the independent driver-side double: layout, chain walking, used ring, notification.
@Suite struct SplitVirtqueueTests {
    let memory: GuestMemory
    let driver: VirtqueueDriver
    let queue: SplitVirtqueue

    init() throws {
        memory = try GuestMemory(size: 1 << 20)
        driver = try VirtqueueDriver(memory: memory, size: 16, base: GuestAddress(0x1000))
        queue = SplitVirtqueue(size: 16, descriptorTable: driver.descriptorTable,
                               availableRing: driver.availableRing, usedRing: driver.usedRing)
    }

    @Test func aDirectChainComesOutReadableThenWritable() throws {
        var queue = self.queue
        try queue.validateLayout(in: memory)
        #expect(try queue.pop(from: memory) == nil)
        let head = try driver.post([.readable(0x8000, 16), .readable(0x9000, 100), .writable(0xA000, 512)])
        let chain = try #require(try queue.pop(from: memory))
        #expect(chain.head == head)
        #expect(chain.readable == [GuestBuffer(address: GuestAddress(0x8000), length: 16),
                                   GuestBuffer(address: GuestAddress(0x9000), length: 100)])
        #expect(chain.writable == [GuestBuffer(address: GuestAddress(0xA000), length: 512)])
        #expect(try queue.pop(from: memory) == nil)
        try queue.pushUsed(head: chain.head, writtenLength: 512, to: memory)
        let used = try driver.takeUsed()
        #expect(used.count == 1 && used[0].head == head && used[0].length == 512)
        #expect(driver.freeDescriptorCount == 16)
    }

    @Test func anIndirectChainIsWalked() throws {
        var queue = self.queue
        try driver.postIndirect([.readable(0x8000, 16), .writable(0xA000, 1), .writable(0xB000, 4096)],
                                table: GuestAddress(0x20000))
        let chain = try #require(try queue.pop(from: memory))
        #expect(chain.readable.count == 1 && chain.writable.count == 2 && chain.writableLength == 4097)
    }

    @Test func indicesWrapAroundSixteenBits() throws {
        var queue = self.queue
        for round in 0..<70_000 {
            let head = try driver.post([.writable(0x8000, UInt32(round % 100 + 1))])
            let chain = try #require(try queue.pop(from: memory))
            #expect(chain.head == head)
            try queue.pushUsed(head: head, writtenLength: 1, to: memory)
            _ = try driver.takeUsed()
            if round % 10_000 == 0 { #expect(queue.nextAvailable == driver.availableIndex) }
        }
        #expect(queue.nextAvailable == UInt16(70_000 % 65_536))
    }

    @Test func badLayoutsAreRefused() {
        func layout(_ size: UInt16, _ table: UInt64, _ avail: UInt64, _ used: UInt64) -> VirtqueueError? {
            do {
                try SplitVirtqueue(size: size, descriptorTable: GuestAddress(table), availableRing: GuestAddress(avail),
                                   usedRing: GuestAddress(used)).validateLayout(in: memory)
                return nil
            } catch { return error }
        }
        #expect(layout(16, 0x1000, 0x2000, 0x3000) == nil)
        #expect(layout(0, 0x1000, 0x2000, 0x3000) == .badQueueSize(0))
        #expect(layout(24, 0x1000, 0x2000, 0x3000) == .badQueueSize(24))
        #expect(layout(16, 0x1008, 0x2000, 0x3000) == .misalignedRing(name: "descriptor table",
                                                                       address: GuestAddress(0x1008)))
        #expect(layout(16, 0x1000, 0x2001, 0x3000) != nil)
        #expect(layout(16, 0x1000, 0x2000, 0x3002) != nil)
        #expect(layout(16, 0x1000, 0x2000, (1 << 20) - 8) != nil, "used ring runs off the end of RAM")
        #expect(layout(16, UInt64.max - 15, 0x2000, 0x3000) != nil)
    }

    @Test func interruptSuppressionFollowsTheFlagsOrTheEventIndex() throws {
        var queue = self.queue
        try driver.post([.writable(0x8000, 8)])
        var chain = try #require(try queue.pop(from: memory))
        try queue.pushUsed(head: chain.head, writtenLength: 0, to: memory)
        #expect(try queue.shouldNotify(in: memory))
        #expect(try !queue.shouldNotify(in: memory), "nothing new since the last decision")
        try driver.setInterruptsSuppressed(true)
        _ = try driver.takeUsed()
        try driver.post([.writable(0x8000, 8)])
        chain = try #require(try queue.pop(from: memory))
        try queue.pushUsed(head: chain.head, writtenLength: 0, to: memory)
        #expect(try !queue.shouldNotify(in: memory))

        // Event index: notify only when the used index passes used_event.
        queue.eventIndex = true
        _ = try driver.takeUsed()
        try driver.setUsedEvent(queue.nextUsed &+ 1)
        for expected in [false, true, false] {
            try driver.post([.writable(0x8000, 8)])
            chain = try #require(try queue.pop(from: memory))
            #expect(try driver.availableEvent() == queue.nextAvailable)
            try queue.pushUsed(head: chain.head, writtenLength: 0, to: memory)
            #expect(try queue.shouldNotify(in: memory) == expected)
            _ = try driver.takeUsed()
        }
    }

    @Test func hostileChainsAreNamed() throws {
        var queue = self.queue
        // A loop: 0 -> 1 -> 0.
        try driver.writeDescriptor(index: 0, address: 0x8000, length: 8, flags: 1, next: 1)
        try driver.writeDescriptor(index: 1, address: 0x8000, length: 8, flags: 1, next: 0)
        try driver.publish(head: 0)
        #expect(throws: VirtqueueError.chainTooLong(limit: 16)) { try queue.pop(from: memory) }

        queue = SplitVirtqueue(size: 16, descriptorTable: driver.descriptorTable,
                               availableRing: driver.availableRing, usedRing: driver.usedRing)
        queue.nextAvailable = driver.availableIndex
        try driver.writeDescriptor(index: 2, address: 0xFFFF_FFFF_FFFF_FFF0, length: 0x20, flags: 0, next: 0)
        try driver.publish(head: 2)
        #expect(throws: VirtqueueError.bufferOutsideMemory(address: GuestAddress(0xFFFF_FFFF_FFFF_FFF0),
                                                           length: 0x20)) { try queue.pop(from: memory) }

        queue.nextAvailable = driver.availableIndex
        try driver.writeDescriptor(index: 3, address: 0x8000, length: 8, flags: 2 | 1, next: 4)
        try driver.writeDescriptor(index: 4, address: 0x9000, length: 8, flags: 0, next: 0)
        try driver.publish(head: 3)
        #expect(throws: VirtqueueError.readableAfterWritable) { try queue.pop(from: memory) }

        queue.nextAvailable = driver.availableIndex
        try driver.forceAvailableIndex(driver.availableIndex &+ 17)
        #expect(throws: VirtqueueError.availIndexTooFarAhead(availIndex: queue.nextAvailable &+ 17,
                                                             lastSeen: queue.nextAvailable, queueSize: 16)) {
            try queue.pop(from: memory)
        }
    }
}
