// Design note: CacheStore, the bounded in-memory store under both caches.
//
// What it guarantees
// - Bounded: the bytes charged for entries (their own weight plus a fixed per-entry overhead) never exceed the
//   budget after an operation returns; each shard holds budget / shardCount and evicts from its LRU tail.
// - Never serves an expired entry: `get` checks the expiry it reads (TTL counted from insertion; a hit does not
//   extend it); `sweep` reclaims expired entries incrementally.
// - A fill never overwrites newer data. Every key's record carries a version drawn from its shard's counter,
//   which only grows. A miss takes a fill ticket (the record's version; a value-less "lease" record is created
//   when there is none). A write takes a write ticket and bumps the version, and bumps it again when it
//   completes; an invalidation removes the record. A fill lands only if its record is still there with the
//   ticket's version, so any write, invalidation or eviction of the key after the fill began discards it
//   (memcache leases, Nishtala et al., NSDI'13). Two writes to one key in flight at once leave the key empty
//   rather than guess their order.
//
// Concurrency: keys are spread over a power-of-two number of shards by `key.stripeHash & mask`; each shard has
// its own Mutex and nothing is global, so the hot path takes one uncontended lock. No operation holds two shard
// locks; group operations (flush a table) take the shard locks one after another.
//
// Time is an input: every call that needs it takes `now` (nanoseconds on a monotonic clock); the store never
// reads a clock, so tests drive time by hand.

import Synchronization

/// A key of the store. `stripeHash` picks the shard and must be well mixed; `group` names a set of keys that
/// can be dropped together (e.g. one table's entries).
package protocol CacheKey: Hashable, Sendable {
    var stripeHash: UInt64 { get }
    var group: UInt64 { get }
}

/// Settings of one store.
package struct CacheStoreConfiguration: Sendable {
    /// Total bytes the store may charge for its entries.
    package var capacityBytes: Int
    /// Number of lock stripes; rounded up to a power of two.
    package var shardCount: Int
    /// Entries whose weight exceeds this are not stored.
    package var maxEntryBytes: Int
    /// Bytes charged per entry on top of its weight (key, bookkeeping), so that many tiny entries stay bounded too.
    package var entryOverheadBytes: Int

    package init(capacityBytes: Int, shardCount: Int = 64, maxEntryBytes: Int = 1 << 20, entryOverheadBytes: Int = 96) {
        self.capacityBytes = capacityBytes
        self.shardCount = shardCount
        self.maxEntryBytes = maxEntryBytes
        self.entryOverheadBytes = entryOverheadBytes
    }
}

/// Proof that a fill began; hand it back to ``CacheStore/completeFill(_:ticket:value:weight:expiresAt:now:)``.
package struct FillTicket: Hashable, Sendable {
    let version: UInt64
}

/// Proof that a write began; hand it back to ``CacheStore/completeWrite(_:ticket:value:weight:expiresAt:now:)``.
package struct WriteTicket: Hashable, Sendable {
    let version: UInt64
}

/// The result of a lookup that may start a fill.
package enum CacheLookup<Value: Sendable>: Sendable {
    case hit(Value)
    case miss(FillTicket)
}

/// Counters of one store, summed over its shards.
package struct CacheStoreStats: Sendable, Equatable {
    package var hits = 0
    package var misses = 0
    package var entries = 0
    package var bytes = 0
    package var capacityBytes = 0
    package var insertions = 0
    package var evictions = 0
    package var evictedBytes = 0
    package var expirations = 0
    package var invalidations = 0
    package var discardedFills = 0
    package var rejectedTooLarge = 0
}

/// A bounded, lock-striped LRU store with TTL and versioned fills. See the design note at the top of the file.
package final class CacheStore<Key: CacheKey, Value: Sendable>: Sendable {
    /// Each shard's Mutex lives in its own object: Mutex is not copyable, so it cannot sit in an array itself.
    private final class Stripe: Sendable {
        let mutex: Mutex<CacheShard<Key, Value>>
        init(_ shard: consuming CacheShard<Key, Value>) { mutex = Mutex(shard) }
    }

    private let stripes: [Stripe]
    private let mask: UInt64
    package let configuration: CacheStoreConfiguration

    package init(configuration: CacheStoreConfiguration) {
        var count = 1
        while count < max(1, configuration.shardCount) { count <<= 1 }
        self.configuration = configuration
        let perShard = max(configuration.capacityBytes / count, 0)
        stripes = (0..<count).map { _ in
            Stripe(
                CacheShard(
                    capacityBytes: perShard,
                    maxEntryBytes: configuration.maxEntryBytes,
                    overhead: configuration.entryOverheadBytes
                )
            )
        }
        mask = UInt64(count - 1)
    }

    private func shard(_ key: Key) -> Int { Int(truncatingIfNeeded: key.stripeHash & mask) }

    /// Returns the live value of `key`, or nil; counts a hit or a miss. Does not extend its TTL.
    package func get(_ key: Key, now: UInt64) -> Value? {
        stripes[shard(key)].mutex.withLock { $0.get(key, now: now) }
    }

    /// Returns the live value, or a ticket for a fill of the key that will be discarded if the key changes first.
    /// A live value that `accept` refuses (e.g. filled for another namespace) counts as a miss and stays until the
    /// fill replaces it.
    package func lookup(_ key: Key, now: UInt64, accept: (Value) -> Bool = { _ in true }) -> CacheLookup<Value> {
        stripes[shard(key)].mutex.withLock { $0.lookup(key, now: now, accept: accept) }
    }

    /// Stores the result of a fill unless the key was written, invalidated or evicted since `ticket` was taken.
    /// Returns whether it was stored.
    @discardableResult
    package func completeFill(_ key: Key, ticket: FillTicket, value: Value, weight: Int, expiresAt: UInt64, now: UInt64)
        -> Bool
    {
        stripes[shard(key)].mutex.withLock {
            $0.completeFill(key, ticket: ticket, value: value, weight: weight, expiresAt: expiresAt, now: now)
        }
    }

    /// Marks a write of `key` as begun: fills that started earlier will be discarded.
    package func beginWrite(_ key: Key, now: UInt64) -> WriteTicket {
        stripes[shard(key)].mutex.withLock { $0.beginWrite(key, now: now) }
    }

    /// Completes a write the storage server acknowledged. With a value, the key becomes it, unless another write
    /// or an invalidation of the key happened since `ticket` (then the key is dropped: the order is unknown).
    /// Without a value the key is dropped.
    package func completeWrite(
        _ key: Key,
        ticket: WriteTicket,
        value: Value?,
        weight: Int,
        expiresAt: UInt64,
        now: UInt64
    ) {
        stripes[shard(key)].mutex.withLock {
            $0.completeWrite(key, ticket: ticket, value: value, weight: weight, expiresAt: expiresAt, now: now)
        }
    }

    /// Drops `key` and any fill of it in flight.
    package func invalidate(_ key: Key) {
        stripes[shard(key)].mutex.withLock { $0.invalidate(key) }
    }

    /// Drops every key of `group`, and fills in flight for them. Walks every shard: for rare events only.
    package func invalidateGroup(_ group: UInt64) {
        for stripe in stripes { stripe.mutex.withLock { $0.invalidateGroup(group) } }
    }

    /// Drops everything.
    package func removeAll() {
        for stripe in stripes { stripe.mutex.withLock { $0.removeAll() } }
    }

    /// Reclaims up to `limitPerShard` expired entries per shard, examining a bounded number of records, so a
    /// periodic call keeps memory of dead entries low without long lock holds.
    package func sweep(now: UInt64, examinePerShard: Int = 256) {
        for stripe in stripes { stripe.mutex.withLock { $0.sweep(now: now, examine: examinePerShard) } }
    }

    /// Counters summed over the shards.
    package func stats() -> CacheStoreStats {
        var total = CacheStoreStats()
        for stripe in stripes {
            let s = stripe.mutex.withLock { $0.stats }
            total.hits += s.hits
            total.misses += s.misses
            total.entries += s.entries
            total.bytes += s.bytes
            total.capacityBytes += s.capacityBytes
            total.insertions += s.insertions
            total.evictions += s.evictions
            total.evictedBytes += s.evictedBytes
            total.expirations += s.expirations
            total.invalidations += s.invalidations
            total.discardedFills += s.discardedFills
            total.rejectedTooLarge += s.rejectedTooLarge
        }
        return total
    }

    /// Checks every shard's invariants; returns the violations found (empty when sound). For tests.
    package func validate(now: UInt64) -> [String] {
        stripes.enumerated().flatMap { index, stripe in
            stripe.mutex.withLock { $0.validate(now: now) }.map { "shard \(index): \($0)" }
        }
    }
}
