@testable import ApusSoftCPU
import Testing

/// The decode cache's layout (one cache line per entry) and its packed validity word: an entry made before a flush
/// or a write to its page is never found again, even when the epoch or a page's generation runs out of bits.
@Suite struct DecodeCacheLayoutTests {
    static let physical: UInt64 = 0x5123
    static let page = 5
    static let mode: UInt64 = 8

    private func insertOne(_ cache: DecodeCache) {
        var entry = DecodeCache.Entry()
        entry.opcode = 0x90
        cache.insert(entry, physical: Self.physical, page: Self.page, mode: Self.mode)
    }

    private func found(_ cache: DecodeCache) -> Bool {
        cache.lookup(Self.physical, page: Self.page, mode: Self.mode) != nil
    }

    @Test func anEntryIsOneCacheLine() {
        #expect(MemoryLayout<DecodeCache.Entry>.stride == DecodeCache.lineSize)
        #expect(MemoryLayout<DecodeCache.Entry>.size <= DecodeCache.lineSize)
    }

    @Test func theTableStartsOnALineBoundary() throws {
        let cache = DecodeCache(pageCount: 16)
        defer { cache.deallocate() }
        insertOne(cache)
        let entry = try #require(cache.lookup(Self.physical, page: Self.page, mode: Self.mode))
        #expect(Int(bitPattern: entry) % DecodeCache.lineSize == 0)
    }

    @Test func anEntryIsFoundUntilAFlushOrAWriteToItsPage() {
        let cache = DecodeCache(pageCount: 16)
        defer { cache.deallocate() }
        insertOne(cache)
        #expect(found(cache))
        #expect(cache.lookup(Self.physical, page: Self.page, mode: 4) == nil)   // another decoding mode
        cache.codeWritten(page: Self.page + 1)
        #expect(found(cache))
        cache.codeWritten(page: Self.page)
        #expect(!found(cache))
        insertOne(cache)
        #expect(found(cache))
        cache.flushAll()
        #expect(!found(cache))
    }

    @Test func aStaleEntryIsReusedOnlyWhileItsBytesAreUnchanged() {
        let cache = DecodeCache(pageCount: 16)
        defer { cache.deallocate() }
        var bytes: [UInt64] = [0x1122_3344_5566_7788, 0x99AA_BBCC_DDEE_FF00]
        var entry = DecodeCache.Entry()
        entry.low = bytes[0]
        entry.high = bytes[1]
        cache.insert(entry, physical: Self.physical, page: Self.page, mode: Self.mode)
        func revalidated() -> Bool {
            bytes.withUnsafeBytes {
                cache.lookup(Self.physical, page: Self.page, mode: Self.mode, code: $0.baseAddress!) != nil
            }
        }
        cache.flushAll()
        #expect(!found(cache))
        #expect(revalidated())
        #expect(found(cache))   // stamped anew
        cache.codeWritten(page: Self.page)
        #expect(!cache.pageState(Self.page).holdsCode)
        #expect(revalidated())
        #expect(cache.pageState(Self.page).holdsCode)   // the next write to the page drops it again
        cache.codeWritten(page: Self.page)
        #expect(!found(cache))
        for index in 0..<2 {
            let kept = bytes[index]
            bytes[index] ^= 1 << 40   // one changed byte in either half
            #expect(!revalidated())
            #expect(!found(cache))
            bytes[index] = kept
        }
        #expect(revalidated())
        bytes.withUnsafeBytes {   // another mode never matches
            #expect(cache.lookup(Self.physical, page: Self.page, mode: Self.mode | 1, code: $0.baseAddress!) == nil)
        }
    }

    @Test func aWrappedEpochDoesNotRevive() {
        // 59 generation bits leave the epoch 4: it repeats after 15 flushes, when the table must have been cleared.
        let cache = DecodeCache(pageCount: 16, generationBits: 59)
        defer { cache.deallocate() }
        for flushes in 1...40 {
            insertOne(cache)
            #expect(found(cache))
            for _ in 0..<flushes { cache.flushAll() }
            #expect(!found(cache), "found after \(flushes) flushes")
        }
        insertOne(cache)
        #expect(found(cache))
    }

    @Test func aPageWhoseGenerationsRunOutIsNeverCachedAgain() {
        // 3 generation bits: states stay below 16 (the epoch's bit), so the page has generations 0...7. The page
        // states are shared by the machine's vCPUs, so a page cannot start over without reviving another vCPU's stale
        // entries: once its generations run out it is simply not cached any more, and nothing stale is ever found.
        let cache = DecodeCache(pageCount: 16, generationBits: 3)
        defer { cache.deallocate() }
        var lastCachedWrite = 0
        for write in 1...20 {
            insertOne(cache)
            if found(cache) { lastCachedWrite = write }
            cache.codeWritten(page: Self.page)
            #expect(!found(cache), "found after write \(write)")
            #expect(cache.pageState(Self.page).generation < 8)
        }
        // States 1, 3, ..., 13 (generations 0...6) cache; marking state 14 gives 15, the exhausted state, so the
        // eighth insert and every later one are not cached.
        #expect(lastCachedWrite == 7, "the page was cached up to write \(lastCachedWrite)")
        #expect(cache.flushCount == 0, "running out of generations flushes nothing")
    }
}
