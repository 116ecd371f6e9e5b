// Design note: CacheStore, the bounded in-memory store under both caches.
//
// What it guarantees
// - Bounded: the bytes charged for entries never exceed the budget after an operation returns; each shard holds
//   budget / shardCount. An entry is charged what it keeps alive: its value's weight (its owner counts it by
//   allocator size classes, ``AllocationSize``), its key's retained heap bytes, and the store's own bookkeeping
//   per record (``CacheStore/bookkeepingBytesPerRecord``), so the budget bounds memory, not just payload.
// - Evicts by S3-FIFO (Yang et al., SOSP '23), chosen in the hit-ratio simulator over LRU, SIEVE and W-TinyLFU
//   (Benchmarks/Sources/HitRatioSimulator): a new key enters a small FIFO (10% of the bytes); one not read again
//   before it reaches the tail is evicted and its fingerprint kept in a ghost FIFO, so a one-pass scan cannot
//   flush the hot set; one read again moves to the main FIFO, which gives each record a second pass per read
//   credit (up to 3) before evicting it. A key the ghost remembers enters main directly. A hit only raises the
//   record's 2-bit credit: it relinks nothing, so a read writes no list state other keys share.
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
// - Dropping a set of entries (a table's) is O(1) for the store: their owner marks them, and `discards` says so.
//   A discarded value is never served; it is reclaimed when a lookup meets it, by the sweep, or by eviction, and
//   a fill or write that lands one simply stores a value nobody will be served.
//
// Concurrency: keys are spread over a power-of-two number of shards by `key.stripeHash & mask`; each shard has
// its own Mutex and nothing is global, so the hot path takes one uncontended lock. No operation holds two shard
// locks; whole-store operations take the shard locks one after another.
//
// Time is an input: every call that needs it takes `now` (nanoseconds on a monotonic clock); the store never
// reads a clock, so tests drive time by hand.

import Synchronization

/// A key of the store. `stripeHash` picks the shard and must be well mixed.
public protocol CacheKey: Hashable, Sendable {
    var stripeHash: UInt64 { get }
    /// Heap bytes the key keeps alive beyond its own layout (its byte arrays, strings too long to be inline),
    /// by ``AllocationSize``: charged to its record with the value.
    var retainedBytes: Int { get }
}

/// Settings of one store.
public struct CacheStoreConfiguration: Sendable {
    /// Total bytes the store may charge for its entries.
    public var capacityBytes: Int
    /// Number of lock stripes; rounded up to a power of two.
    public var shardCount: Int
    /// Entries whose weight exceeds this are not stored.
    public var maxEntryBytes: Int
    /// Bytes charged per record on top of its value's weight and its key's retained bytes; nil for what the
    /// store's own bookkeeping really takes per record (``CacheStore/bookkeepingBytesPerRecord``).
    public var entryOverheadBytes: Int?

    public init(
        capacityBytes: Int, shardCount: Int = 64, maxEntryBytes: Int = 1 << 20, entryOverheadBytes: Int? = nil
    ) {
        self.capacityBytes = capacityBytes
        self.shardCount = shardCount
        self.maxEntryBytes = maxEntryBytes
        self.entryOverheadBytes = entryOverheadBytes
    }
}

/// Proof that a fill began; hand it back to ``CacheStore/completeFill(_:ticket:value:weight:expiresAt:)``.
public struct FillTicket: Hashable, Sendable {
    @usableFromInline let version: UInt64
    @inlinable init(version: UInt64) { self.version = version }
}

/// Proof that a write began; hand it back to ``CacheStore/completeWrite(_:ticket:value:weight:expiresAt:)``.
public struct WriteTicket: Hashable, Sendable {
    @usableFromInline let version: UInt64
    @inlinable init(version: UInt64) { self.version = version }
}

/// The result of a lookup that may start a fill.
public enum CacheLookup<Value: Sendable>: Sendable {
    case hit(Value)
    case miss(FillTicket)
}

/// Counters of one store, summed over its shards.
public struct CacheStoreStats: Sendable, Equatable {
    public init() {}
    public var hits = 0
    public var misses = 0
    public var entries = 0
    public var bytes = 0
    public var capacityBytes = 0
    public var insertions = 0
    public var evictions = 0
    public var evictedBytes = 0
    public var expirations = 0
    public var invalidations = 0
    public var discardedFills = 0
    public var rejectedTooLarge = 0
}

/// A bounded, lock-striped S3-FIFO store with TTL and versioned fills. See the design note at the top of the file.
public final class CacheStore<Key: CacheKey, Value: Sendable>: Sendable {
    /// Each shard's Mutex lives in its own object: Mutex is not copyable, so it cannot sit in an array itself.
    @usableFromInline
    final class Stripe: Sendable {
        @usableFromInline let mutex: Mutex<CacheShard<Key, Value>>
        @usableFromInline init(_ shard: sending CacheShard<Key, Value>) { mutex = Mutex(shard) }
    }

    @usableFromInline let stripes: [Stripe]
    @usableFromInline let mask: UInt64
    /// Whether a stored value was dropped by its owner (see the design note); checked before serving it.
    @usableFromInline let discards: @Sendable (Value) -> Bool
    public let configuration: CacheStoreConfiguration

    public init(configuration: CacheStoreConfiguration, discards: @escaping @Sendable (Value) -> Bool = { _ in false })
    {
        self.discards = discards
        var count = 1
        while count < max(1, configuration.shardCount) { count <<= 1 }
        self.configuration = configuration
        let perShard = max(configuration.capacityBytes / count, 0)
        stripes = (0..<count).map { _ in
            Stripe(
                CacheShard(
                    capacityBytes: perShard,
                    maxEntryBytes: configuration.maxEntryBytes,
                    overhead: configuration.entryOverheadBytes ?? Self.bookkeepingBytesPerRecord
                )
            )
        }
        mask = UInt64(count - 1)
    }

    /// What the store itself holds per record, by its layouts: the record's slot (the slot array only grows, by
    /// doubling, so up to twice the records live), the index's bucket (a dictionary is at most 3/4 full and
    /// grows by doubling: up to 8/3 buckets per key), a free-slot entry, and up to one ghost fingerprint (its ring
    /// entry twice over, compaction's slack, and its dictionary bucket).
    public static var bookkeepingBytesPerRecord: Int {
        let slot = 2 * MemoryLayout<CacheShard<Key, Value>.Record?>.stride + 2 * MemoryLayout<Int32>.stride
        let bucket = 8 * (MemoryLayout<Key>.stride + MemoryLayout<Int32>.stride) / 3
        let ghost = 2 * MemoryLayout<(UInt64, UInt64)>.stride + 8 * 2 * MemoryLayout<UInt64>.stride / 3
        return slot + bucket + ghost
    }

    @inlinable func shard(_ key: Key) -> Int { Int(truncatingIfNeeded: key.stripeHash & mask) }

    /// Returns the live value of `key`, or nil; counts a hit or a miss. Does not extend its TTL.
    @inlinable
    public func get(_ key: Key, now: UInt64) -> Value? {
        stripes[shard(key)].mutex.withLock { $0.get(key, now: now, discards: discards) }
    }

    /// Returns the live value, or a ticket for a fill of the key that will be discarded if the key changes first.
    /// A live value that `accept` refuses (e.g. filled for another namespace) counts as a miss and stays until the
    /// fill replaces it.
    @inlinable
    public func lookup(_ key: Key, now: UInt64, accept: @Sendable (Value) -> Bool = { _ in true }) -> CacheLookup<Value>
    {
        stripes[shard(key)].mutex.withLock { $0.lookup(key, now: now, discards: discards, accept: accept) }
    }

    /// Stores the result of a fill unless the key was written, invalidated or evicted since `ticket` was taken.
    /// Returns whether it was stored.
    @inlinable @discardableResult
    public func completeFill(_ key: Key, ticket: FillTicket, value: Value, weight: Int, expiresAt: UInt64)
        -> Bool
    {
        stripes[shard(key)].mutex.withLock {
            $0.completeFill(key, ticket: ticket, value: value, weight: weight, expiresAt: expiresAt)
        }
    }

    /// Marks a write of `key` as begun: fills that started earlier will be discarded.
    @inlinable
    public func beginWrite(_ key: Key) -> WriteTicket {
        stripes[shard(key)].mutex.withLock { $0.beginWrite(key) }
    }

    /// Completes a write the storage server acknowledged. With a value, the key becomes it, unless another write
    /// or an invalidation of the key happened since `ticket` (then the key is dropped: the order is unknown).
    /// Without a value the key is dropped.
    @inlinable
    public func completeWrite(
        _ key: Key,
        ticket: WriteTicket,
        value: Value?,
        weight: Int,
        expiresAt: UInt64
    ) {
        stripes[shard(key)].mutex.withLock {
            $0.completeWrite(key, ticket: ticket, value: value, weight: weight, expiresAt: expiresAt)
        }
    }

    /// Applies a change made elsewhere to a key the store may hold: its live value becomes what `replacement`
    /// makes of it, and any fill or write of it in flight is discarded; when `replacement` returns nil, or the
    /// key has no live value (a lease), the key is dropped as by `invalidate`. A key not held stays so: a change
    /// nobody read costs no memory.
    @inlinable
    public func refresh(
        _ key: Key,
        now: UInt64,
        replacement: @Sendable (Value) -> (value: Value, weight: Int, expiresAt: UInt64)?
    ) {
        stripes[shard(key)].mutex.withLock {
            $0.refresh(key, now: now, discards: discards, replacement: replacement)
        }
    }

    /// Drops `key` and any fill of it in flight.
    @inlinable
    public func invalidate(_ key: Key) {
        stripes[shard(key)].mutex.withLock { $0.invalidate(key) }
    }

    /// Drops everything.
    public func removeAll() {
        for stripe in stripes { stripe.mutex.withLock { $0.removeAll() } }
    }

    /// Reclaims expired and discarded entries, examining up to `examinePerShard` records per shard, so a periodic
    /// call keeps memory of dead entries low without long lock holds.
    public func sweep(now: UInt64, examinePerShard: Int = 256) {
        for stripe in stripes {
            stripe.mutex.withLock { $0.sweep(now: now, examine: examinePerShard, discards: discards) }
        }
    }

    /// Counters summed over the shards.
    public func stats() -> CacheStoreStats {
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
    public func validate() -> [String] {
        stripes.enumerated().flatMap { index, stripe in
            stripe.mutex.withLock { $0.validate() }.map { "shard \(index): \($0)" }
        }
    }
}
