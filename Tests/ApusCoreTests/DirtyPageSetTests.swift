import ApusCore
import Foundation
import Testing

@Suite struct DirtyPageSetTests {
    @Test func rangesAcrossWordsAreTakenOnceInOrder() {
        let set = DirtyPageSet(pageCount: 5000)
        #expect(!set.mayHavePages)
        set.insert(first: 60, last: 130)      // three words, partly
        set.insert(first: 4094, last: 9999)   // clamped to the last page
        set.insert(page: 64)                  // already there
        set.insert(first: -5, last: -1)       // outside: ignored
        #expect(set.contains(page: 130) && !set.contains(page: 131) && set.contains(page: 4999))
        #expect(set.mayHavePages)
        #expect(set.takeAll() == Array(60...130) + Array(4094...4999))
        #expect(!set.mayHavePages && set.takeAll().isEmpty && !set.contains(page: 60))
    }

    @Test func aWholeWordAndAFullSummaryGroup() {
        let set = DirtyPageSet(pageCount: 64 * 64 + 1)
        set.insert(first: 0, last: 64 * 64)
        #expect(set.take { _ in } == 64 * 64 + 1)
    }

    /// Writers on several threads while a reader keeps taking: every page inserted is taken exactly once.
    @Test func concurrentWritersLoseNothing() async {
        let pageCount = 1 << 14
        let writers = 4
        let set = DirtyPageSet(pageCount: pageCount)
        let reader = Task.detached {
            var seen: [Int] = []
            while seen.count < pageCount { set.take { seen.append($0) } }
            return seen
        }
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for page in stride(from: writer, to: pageCount, by: writers) { set.insert(page: page) }
                }
            }
        }
        let seen = await reader.value
        #expect(seen.count == pageCount)
        #expect(Set(seen).count == pageCount)
        #expect(set.takeAll().isEmpty)
    }
}
