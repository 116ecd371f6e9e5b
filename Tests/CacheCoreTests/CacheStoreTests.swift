import CacheCore
import Synchronization
import Testing

/// A test key: `id` is the identity, the stripe hash spreads ids over the shards.
struct TestKey: CacheKey {
    var id: Int
    var stripeHash: UInt64 { UInt64(truncatingIfNeeded: id) &* 0x9E37_79B9_7F4A_7C15 }
    var retainedBytes: Int { 0 }
}

func makeStore(capacity: Int = 10_000, shards: Int = 1, maxEntry: Int = 1_000, overhead: Int = 0) -> CacheStore<
    TestKey, String
> {
    CacheStore(
        configuration: CacheStoreConfiguration(
            capacityBytes: capacity,
            shardCount: shards,
            maxEntryBytes: maxEntry,
            entryOverheadBytes: overhead
        )
    )
}

/// Fills `key` through the lease protocol, as the proxy does on a miss.
@discardableResult
func fill(_ store: CacheStore<TestKey, String>, _ key: TestKey, _ value: String, now: UInt64 = 0, ttl: UInt64 = 1_000)
    -> Bool
{
    guard case .miss(let ticket) = store.lookup(key, now: now) else { return false }
    return store.completeFill(
        key, ticket: ticket, value: value, weight: value.utf8.count, expiresAt: now + ttl)
}

@Suite struct CacheStoreTests {
    @Test func missThenFillThenHit() {
        let store = makeStore()
        let key = TestKey(id: 1)
        #expect(store.get(key, now: 0) == nil)
        #expect(fill(store, key, "v1"))
        #expect(store.get(key, now: 1) == "v1")
        guard case .hit(let value) = store.lookup(key, now: 2) else {
            Issue.record("expected a hit")
            return
        }
        #expect(value == "v1")
        let stats = store.stats()
        #expect(stats.hits == 2)
        #expect(stats.misses == 2)
        #expect(stats.entries == 1)
        #expect(store.validate().isEmpty)
    }

    @Test func expiresAtTTLAndAHitDoesNotExtendIt() {
        let store = makeStore()
        let key = TestKey(id: 1)
        fill(store, key, "v", now: 100, ttl: 50)
        #expect(store.get(key, now: 149) == "v")
        #expect(store.get(key, now: 150) == nil)
        #expect(store.stats().expirations == 1)
        #expect(store.stats().entries == 0)
        #expect(store.validate().isEmpty)
    }

    @Test func sweepReclaimsExpiredEntriesWithoutReads() {
        let store = makeStore(capacity: 100_000)
        for id in 0..<100 { fill(store, TestKey(id: id), "value", now: 0, ttl: id < 50 ? 10 : 1_000) }
        store.sweep(now: 20, examinePerShard: 1_000)
        let stats = store.stats()
        #expect(stats.entries == 50)
        #expect(stats.expirations == 50)
        #expect(store.validate().isEmpty)
    }

    @Test func evictsKeysReadOnceBeforeKeysReadAgainToStayWithinBudget() {
        // Room for three of 10 bytes. 1 is read again while new; 2 and 3 are not: 4 evicts 2 (1 moves to main
        // instead), 5 evicts 3.
        let store = makeStore(capacity: 30)
        fill(store, TestKey(id: 1), "aaaaaaaaaa")
        fill(store, TestKey(id: 2), "bbbbbbbbbb")
        fill(store, TestKey(id: 3), "cccccccccc")
        #expect(store.get(TestKey(id: 1), now: 1) != nil)
        fill(store, TestKey(id: 4), "dddddddddd")
        fill(store, TestKey(id: 5), "eeeeeeeeee")
        #expect(store.stats().evictions == 2)
        #expect(store.stats().evictedBytes == 20)
        // The ghost remembers 2 and 3: 2, met again, enters main directly, so the keys read once go before it
        // (4, 5, then 6) although they came in earlier or later.
        fill(store, TestKey(id: 2), "bbbbbbbbbb")
        fill(store, TestKey(id: 6), "ffffffffff")
        fill(store, TestKey(id: 7), "gggggggggg")
        let held = (1...7).filter { store.get(TestKey(id: $0), now: 2) != nil }
        #expect(held == [1, 2, 7])
        let stats = store.stats()
        #expect(stats.bytes <= 30)
        #expect(stats.evictions == 5)
        #expect(store.validate().isEmpty)
    }

    @Test func aScanOfKeysReadOnceDoesNotFlushKeysReadOften() {
        // Room for 100 entries; 50 hot keys read three times each, then a one-pass scan of 1,000 cold keys.
        let store = makeStore(capacity: 1_000)
        for _ in 0..<3 {
            for id in 0..<50 where store.get(TestKey(id: id), now: 0) == nil {
                fill(store, TestKey(id: id), "hotvalue!!")
            }
        }
        for id in 1_000..<2_000 { fill(store, TestKey(id: id), "coldvalue!") }
        let kept = (0..<50).count { store.get(TestKey(id: $0), now: 1) != nil }
        #expect(kept == 50, "the scan evicted \(50 - kept) hot keys")
        #expect(store.validate().isEmpty)
    }

    @Test func theGhostStaysSmallWhenTheKeysItRemembersComeBack() {
        // A scan fills the ghost; the scanned keys then come back, each leaving the ghost for main, while evictions
        // come from main and add nothing to the ghost. Its ring must shrink with it (checked by validate).
        let store = makeStore(capacity: 10_000)
        for id in 0..<4_000 { fill(store, TestKey(id: id), "0123456789") }
        for id in stride(from: 3_999, to: 2_000, by: -1) {
            fill(store, TestKey(id: id), "0123456789")
            let problems = store.validate()
            #expect(problems.isEmpty, "\(problems)")
            if !problems.isEmpty { return }
        }
    }

    @Test func perEntryOverheadBoundsManySmallEntries() {
        let store = makeStore(capacity: 1_000, overhead: 100)
        for id in 0..<100 { fill(store, TestKey(id: id), "") }
        #expect(store.stats().entries <= 10)
        #expect(store.validate().isEmpty)
    }

    @Test func refusesEntriesOverTheSizeLimit() {
        let store = makeStore(maxEntry: 5)
        #expect(fill(store, TestKey(id: 1), "123456") == false)
        #expect(store.get(TestKey(id: 1), now: 0) == nil)
        #expect(store.stats().rejectedTooLarge == 1)
        #expect(store.stats().bytes == 0)
        #expect(store.validate().isEmpty)
    }

    @Test func aFillThatStartedBeforeAWriteNeverLandsAfterIt() {
        let store = makeStore()
        let key = TestKey(id: 7)
        guard case .miss(let staleTicket) = store.lookup(key, now: 0) else { return }
        let write = store.beginWrite(key)
        store.completeWrite(key, ticket: write, value: "new", weight: 3, expiresAt: 1_000)
        #expect(
            store.completeFill(key, ticket: staleTicket, value: "old", weight: 3, expiresAt: 1_000) == false)
        #expect(store.get(key, now: 4) == "new")
        #expect(store.stats().discardedFills == 1)
        #expect(store.validate().isEmpty)
    }

    @Test func aFillThatStartedDuringAWriteNeverLandsAfterIt() {
        let store = makeStore()
        let key = TestKey(id: 7)
        let write = store.beginWrite(key)
        guard case .miss(let ticket) = store.lookup(key, now: 1) else { return }  // may read the old item
        store.completeWrite(key, ticket: write, value: "new", weight: 3, expiresAt: 1_000)
        #expect(store.completeFill(key, ticket: ticket, value: "old", weight: 3, expiresAt: 1_000) == false)
        #expect(store.get(key, now: 4) == "new")
    }

    @Test func aFillThatStartedBeforeAnInvalidationIsDiscarded() {
        let store = makeStore()
        let key = TestKey(id: 7)
        guard case .miss(let ticket) = store.lookup(key, now: 0) else { return }
        store.invalidate(key)
        _ = store.lookup(key, now: 1)  // a later miss makes a new lease; the old ticket must still fail
        #expect(store.completeFill(key, ticket: ticket, value: "old", weight: 3, expiresAt: 1_000) == false)
        #expect(store.get(key, now: 3) == nil)
    }

    @Test func aFillWhoseLeaseWasEvictedIsDiscarded() {
        let store = makeStore(capacity: 20)
        let key = TestKey(id: 1)
        guard case .miss(let ticket) = store.lookup(key, now: 0) else { return }
        fill(store, TestKey(id: 2), "bbbbbbbbbb")
        fill(store, TestKey(id: 3), "cccccccccc")
        fill(store, TestKey(id: 4), "dddddddddd")
        #expect(store.completeFill(key, ticket: ticket, value: "x", weight: 1, expiresAt: 1_000) == false)
        #expect(store.validate().isEmpty)
    }

    @Test func overlappingWritesLeaveTheKeyEmpty() {
        let store = makeStore()
        let key = TestKey(id: 3)
        fill(store, key, "v0")
        let first = store.beginWrite(key)
        let second = store.beginWrite(key)
        // Acknowledgements may come back in either order; the store cannot know which write the server applied last.
        store.completeWrite(key, ticket: second, value: "v2", weight: 2, expiresAt: 1_000)
        store.completeWrite(key, ticket: first, value: "v1", weight: 2, expiresAt: 1_000)
        #expect(store.get(key, now: 5) == nil)
        #expect(store.validate().isEmpty)
    }

    @Test func aWriteWithoutValueDropsTheKey() {
        let store = makeStore()
        let key = TestKey(id: 3)
        fill(store, key, "v0")
        let write = store.beginWrite(key)
        #expect(store.get(key, now: 1) == "v0")  // until the storage server answers, the old value stands
        store.completeWrite(key, ticket: write, value: nil, weight: 0, expiresAt: 0)
        #expect(store.get(key, now: 3) == nil)
    }

    @Test func discardedValuesAreNeverServedAndAreReclaimedLazily() {
        // Values of "table" 1 are dropped at once by their owner; the store learns it only through `discards`.
        let dropped = Mutex<Set<Character>>([])
        let store = CacheStore<TestKey, String>(
            configuration: CacheStoreConfiguration(capacityBytes: 100_000, shardCount: 4, entryOverheadBytes: 0),
            discards: { value in dropped.withLock { $0.contains(value.first!) } }
        )
        for id in 0..<100 { fill(store, TestKey(id: id), id % 2 == 0 ? "a" : "b") }
        dropped.withLock { _ = $0.insert("b") }
        #expect(store.stats().entries == 100, "dropping touches no entry")
        for id in 0..<10 {
            #expect((store.get(TestKey(id: id), now: 1) != nil) == (id % 2 == 0))
        }
        #expect(store.stats().entries == 95, "the five met by a lookup are reclaimed")
        // A fill that lands a dropped value stores nothing anyone is served, and a new value replaces it.
        fill(store, TestKey(id: 1), "b-late")
        #expect(store.get(TestKey(id: 1), now: 1) == nil)
        fill(store, TestKey(id: 1), "a-new")
        #expect(store.get(TestKey(id: 1), now: 1) == "a-new")
        // The sweep reclaims the rest without waiting for their expiry.
        store.sweep(now: 1, examinePerShard: 1_000)
        #expect(store.stats().entries == 51)
        #expect(store.stats().invalidations == 51, "the 50 dropped and the late fill")
        #expect(store.validate().isEmpty)
    }

    @Test func removeAllEmptiesEveryShard() {
        let store = makeStore(capacity: 100_000, shards: 4)
        for id in 0..<50 { fill(store, TestKey(id: id), "v") }
        store.removeAll()
        #expect(store.stats().entries == 0)
        #expect(store.stats().bytes == 0)
        #expect(store.get(TestKey(id: 3), now: 1) == nil)
        #expect(store.validate().isEmpty)
    }

    @Test func shardCountIsRoundedToAPowerOfTwoAndBudgetSplit() {
        let store = makeStore(capacity: 12_000, shards: 3)
        #expect(store.stats().capacityBytes == 12_000)  // 4 shards of 3,000
        for id in 0..<1_000 { fill(store, TestKey(id: id), String(repeating: "x", count: 100)) }
        #expect(store.stats().bytes <= 12_000)
        #expect(store.validate().isEmpty)
    }
}

@Suite struct CacheStoreAcceptTests {
    @Test func aRefusedValueIsAMissWhoseFillReplacesIt() {
        let store = makeStore()
        let key = TestKey(id: 1)
        fill(store, key, "for-a")
        guard case .miss(let ticket) = store.lookup(key, now: 1, accept: { $0 != "for-a" }) else {
            Issue.record("a refused value must be a miss")
            return
        }
        #expect(store.get(key, now: 1) == "for-a")  // still there for those who accept it
        #expect(store.completeFill(key, ticket: ticket, value: "for-b", weight: 5, expiresAt: 100))
        guard case .hit(let value) = store.lookup(key, now: 3, accept: { $0 == "for-b" }) else {
            Issue.record("expected the replacing fill to hit")
            return
        }
        #expect(value == "for-b")
        #expect(store.validate().isEmpty)
    }
}

@Suite struct AllocationSizeTests {
    @Test(arguments: [
        (0, 0), (1, 8), (8, 8), (9, 16), (17, 32), (100, 112), (128, 128), (129, 160), (160, 160), (161, 192),
        (256, 256), (257, 320), (1_025, 1_280), (1_100, 1_280), (2_048, 2_048), (2_049, 2_560), (65_537, 81_920),
    ])
    func roundsToJemallocSizeClasses(bytes: Int, allocated: Int) {
        #expect(AllocationSize.rounded(bytes) == allocated)
    }

    @Test func stringsAndArraysCountTheirHeapStorage() {
        #expect(AllocationSize.of("fifteen-bytes!!") == 0, "inline")
        #expect(AllocationSize.of("sixteen-bytes!!!") == 64, "32 + 16 + 1 rounds to 64")
        #expect(AllocationSize.of([UInt8]()) == 0)
        var bytes = [UInt8](repeating: 1, count: 40)
        bytes.reserveCapacity(40)
        #expect(AllocationSize.of(bytes) == AllocationSize.rounded(32 + bytes.capacity))
    }

    @Test func aRecordIsChargedItsValueItsKeyAndTheStoresBookkeeping() {
        struct HeapKey: CacheKey {
            var id: Int
            var stripeHash: UInt64 { UInt64(id) &* 0x9E37_79B9_7F4A_7C15 }
            var retainedBytes: Int { 48 }
        }
        let store = CacheStore<HeapKey, String>(configuration: CacheStoreConfiguration(capacityBytes: 100_000))
        let bookkeeping = CacheStore<HeapKey, String>.bookkeepingBytesPerRecord
        #expect(bookkeeping > 2 * MemoryLayout<HeapKey>.stride, "a slot and a bucket at least")
        guard case .miss(let ticket) = store.lookup(HeapKey(id: 1), now: 0) else { return }
        #expect(store.stats().bytes == bookkeeping + 48, "a lease holds its key and its record")
        store.completeFill(HeapKey(id: 1), ticket: ticket, value: "v", weight: 500, expiresAt: 10)
        #expect(store.stats().bytes == 500 + bookkeeping + 48)
        #expect(store.validate().isEmpty)
    }
}
