import ApusDevices
import Synchronization
import Testing

/// The bounded host-input queue VirtioConsole and VirtioNet share.
@Suite struct HostInputBacklogTests {
    @Test func itKeepsOrderAndRefusesWhatExceedsTheLimit() {
        var backlog = HostInputBacklog<UInt8>(limit: 8)
        let first = backlog.append(contentsOf: [1, 2, 3, 4, 5])
        let second = backlog.append(contentsOf: [6, 7, 8, 9, 10])
        #expect(first == 5)
        #expect(second == 3, "only the room is taken, from the front")
        #expect(backlog.room == 0)
        let refused = !backlog.append(11)
        #expect(refused)
        #expect(Array(backlog.pending) == [1, 2, 3, 4, 5, 6, 7, 8])
        backlog.removeFirst(3)
        #expect(backlog.first == 4 && backlog.count == 5 && backlog.room == 3)
        let third = backlog.append(contentsOf: [9, 10])
        #expect(third == 2)
        #expect(Array(backlog.pending) == [4, 5, 6, 7, 8, 9, 10])
    }

    @Test func roomReappearingAfterFullWakesTheReaderOnce() {
        let woken = Atomic<Int>(0)
        var backlog = HostInputBacklog<[UInt8]>(limit: 2)
        backlog.roomAvailable = { woken.add(1, ordering: .relaxed) }
        backlog.append([1])
        backlog.removeFirst()
        #expect(woken.load(ordering: .relaxed) == 0, "it was never full")
        backlog.append([2])
        backlog.append([3])
        backlog.removeFirst()
        #expect(woken.load(ordering: .relaxed) == 1)
        backlog.removeFirst()
        #expect(woken.load(ordering: .relaxed) == 1, "room was there already")
        backlog.append([4])
        backlog.append([5])
        backlog.removeAll()
        #expect(woken.load(ordering: .relaxed) == 2, "a reset of a full backlog makes room too")
        #expect(backlog.isEmpty && backlog.first == nil)
    }

    @Test func longRunsOfAppendAndTakeStayCorrectAcrossCompaction() {
        var backlog = HostInputBacklog<Int>(limit: 100)
        var expected: [Int] = []
        var next = 0
        for round in 0..<2_000 {
            let added = backlog.append(contentsOf: Array(next..<next + (round % 37)))
            expected += Array(next..<next + added)
            next += added
            let taken = min(backlog.count, round % 29)
            backlog.removeFirst(taken)
            expected.removeFirst(taken)
            #expect(Array(backlog.pending) == expected)
            if Array(backlog.pending) != expected { return }
        }
    }

    @Test func itRestoresWhatWasPendingWithinTheLimitOnly() throws {
        var backlog = HostInputBacklog<UInt8>(limit: 4)
        backlog.append(contentsOf: [9, 9])
        try backlog.restore([1, 2, 3], device: "test")
        #expect(Array(backlog.pending) == [1, 2, 3] && backlog.room == 1)
        var refused = backlog
        #expect(throws: DeviceStateError.self) { try refused.restore([1, 2, 3, 4, 5], device: "test") }
        backlog = refused
        #expect(Array(backlog.pending) == [1, 2, 3], "a refused restore changes nothing")
    }
}
