/// One lock stripe of a ``CacheStore``: a hash map onto an array of records threaded on two intrusive FIFO
/// queues (S3-FIFO's small and main), with a ghost of keys recently evicted from the small one. Always accessed
/// under its shard's Mutex. See the design note in CacheStore.swift.
@usableFromInline
struct CacheShard<Key: CacheKey, Value: Sendable> {
    @usableFromInline
    struct Record {
        @usableFromInline var key: Key
        /// nil for a lease: a fill or write is in flight and no value is stored.
        @usableFromInline var value: Value?
        /// Bytes charged, overhead included.
        @usableFromInline var charge: Int
        @usableFromInline var expiresAt: UInt64
        @usableFromInline var version: UInt64
        /// Newer neighbour in its queue (towards the head).
        @usableFromInline var prev: Int32
        /// Older neighbour in its queue (towards the tail).
        @usableFromInline var next: Int32
        @usableFromInline var queue: Queue
        /// Reads since it entered its queue or was last passed over by eviction, capped at 3 (two bits).
        @usableFromInline var frequency: UInt8

        @inlinable
        init(key: Key, value: Value?, charge: Int, expiresAt: UInt64, version: UInt64, queue: Queue) {
            self.key = key
            self.value = value
            self.charge = charge
            self.expiresAt = expiresAt
            self.version = version
            self.prev = CacheShard.none
            self.next = CacheShard.none
            self.queue = queue
            self.frequency = 0
        }
    }

    @usableFromInline
    enum Queue: UInt8, Sendable {
        /// Where new keys enter: a key not read again before it reaches the tail is evicted after one pass.
        case small
        /// Keys read at least twice: a pass over the tail costs a read credit before it evicts.
        case main
    }

    /// A queue's ends; links live in the records.
    @usableFromInline
    struct Ends: Sendable {
        /// Newest.
        @usableFromInline var head: Int32 = CacheShard.none
        /// Oldest: examined first by eviction.
        @usableFromInline var tail: Int32 = CacheShard.none
        /// Bytes charged for the records in it.
        @usableFromInline var bytes = 0
        @usableFromInline init() {}
    }

    @inlinable static var none: Int32 { -1 }

    @usableFromInline var index: [Key: Int32] = [:]
    @usableFromInline var records: [Record?] = []
    @usableFromInline var freeSlots: [Int32] = []
    @usableFromInline var small = Ends()
    @usableFromInline var main = Ends()
    /// The small queue's share of the budget: past it, eviction takes from the small queue first.
    @usableFromInline let smallCapacity: Int
    @usableFromInline var ghost = GhostQueue()
    @usableFromInline var nextVersion: UInt64 = 1
    @usableFromInline var sweepCursor = 0
    @usableFromInline let overhead: Int
    @usableFromInline let maxEntryBytes: Int
    @usableFromInline var stats: CacheStoreStats

    @inlinable
    init(capacityBytes: Int, maxEntryBytes: Int, overhead: Int) {
        self.overhead = overhead
        self.maxEntryBytes = maxEntryBytes
        stats = CacheStoreStats()
        stats.capacityBytes = capacityBytes
        smallCapacity = capacityBytes / 10
    }

    // MARK: Operations

    @inlinable mutating func get(_ key: Key, now: UInt64, discards: @Sendable (Value) -> Bool) -> Value? {
        if let slot = index[key], let value = records[Int(slot)]!.value {
            if records[Int(slot)]!.expiresAt > now, !discards(value) {
                stats.hits += 1
                touch(slot)
                return value
            }
            reclaim(slot, now: now)
        }
        stats.misses += 1
        return nil
    }

    @inlinable mutating func lookup(
        _ key: Key,
        now: UInt64,
        discards: @Sendable (Value) -> Bool,
        accept: @Sendable (Value) -> Bool
    ) -> CacheLookup<Value> {
        if let slot = index[key] {
            // Fields read in place: copying the record out would retain its key and value on every hit.
            let value = records[Int(slot)]!.value
            if let value, records[Int(slot)]!.expiresAt <= now || discards(value) {
                reclaim(slot, now: now)
            } else {
                touch(slot)
                if let value, accept(value) {
                    stats.hits += 1
                    return .hit(value)
                }
                // A lease (a fill or write in flight: this fill shares its version) or a refused value.
                stats.misses += 1
                return .miss(FillTicket(version: records[Int(slot)]!.version))
            }
        }
        stats.misses += 1
        let slot = insert(key, value: nil, charge: overhead + key.retainedBytes, expiresAt: 0)
        return .miss(FillTicket(version: records[Int(slot)]!.version))
    }

    @inlinable mutating func completeFill(
        _ key: Key,
        ticket: FillTicket,
        value: Value,
        weight: Int,
        expiresAt: UInt64
    ) -> Bool {
        guard let slot = index[key], records[Int(slot)]!.version == ticket.version else {
            stats.discardedFills += 1
            return false
        }
        // A lease still current, or a value stored by another fill with the same ticket: both read after the
        // last write, so either is fresh; the later one wins.
        return store(slot, value: value, weight: weight, expiresAt: expiresAt)
    }

    @inlinable mutating func beginWrite(_ key: Key) -> WriteTicket {
        let slot = index[key] ?? insert(key, value: nil, charge: overhead + key.retainedBytes, expiresAt: 0)
        let version = bumpVersion(slot)
        return WriteTicket(version: version)
    }

    @inlinable mutating func completeWrite(
        _ key: Key,
        ticket: WriteTicket,
        value: Value?,
        weight: Int,
        expiresAt: UInt64
    ) {
        guard let slot = index[key] else { return }  // invalidated or evicted meanwhile: stays empty
        guard records[Int(slot)]!.version == ticket.version, let value else {
            remove(slot)
            stats.invalidations += 1
            return
        }
        // Fills that began during the write may have read the old item: bump so they are discarded.
        bumpVersion(slot)
        store(slot, value: value, weight: weight, expiresAt: expiresAt)
    }

    @inlinable mutating func refresh(
        _ key: Key,
        now: UInt64,
        discards: @Sendable (Value) -> Bool,
        replacement: @Sendable (Value) -> (value: Value, weight: Int, expiresAt: UInt64)?
    ) {
        guard let slot = index[key] else { return }
        let record = records[Int(slot)]!
        guard let value = record.value, record.expiresAt > now, !discards(value), let new = replacement(value) else {
            remove(slot)
            stats.invalidations += 1
            return
        }
        // Fills and writes in flight began before the change: they must not land over it.
        bumpVersion(slot)
        store(slot, value: new.value, weight: new.weight, expiresAt: new.expiresAt)
    }

    @inlinable mutating func invalidate(_ key: Key) {
        guard let slot = index[key] else { return }
        remove(slot)
        stats.invalidations += 1
    }

    @inlinable mutating func removeAll() {
        let capacity = stats.capacityBytes
        let kept = stats
        index.removeAll()
        records.removeAll()
        freeSlots.removeAll()
        small = Ends()
        main = Ends()
        ghost = GhostQueue()
        sweepCursor = 0
        stats = kept
        stats.invalidations += kept.entries
        stats.entries = 0
        stats.bytes = 0
        stats.capacityBytes = capacity
    }

    @inlinable mutating func sweep(now: UInt64, examine: Int, discards: @Sendable (Value) -> Bool) {
        guard !records.isEmpty else { return }
        for _ in 0..<min(examine, records.count) {
            if sweepCursor >= records.count { sweepCursor = 0 }
            if let record = records[sweepCursor], let value = record.value,
                record.expiresAt <= now || discards(value)
            {
                reclaim(Int32(sweepCursor), now: now)
            }
            sweepCursor += 1
        }
    }

    // MARK: Records and the queues

    @discardableResult
    @inlinable mutating func bumpVersion(_ slot: Int32) -> UInt64 {
        let version = nextVersion
        nextVersion += 1
        records[Int(slot)]!.version = version
        return version
    }

    /// A read of a stored record: one more read credit, nothing moved (S3-FIFO's hit).
    @inlinable mutating func touch(_ slot: Int32) {
        let frequency = records[Int(slot)]!.frequency
        if frequency < 3 { records[Int(slot)]!.frequency = frequency + 1 }
    }

    /// Puts a value into an existing record, charging its weight; refuses values over the entry limit.
    @discardableResult
    @inlinable mutating func store(_ slot: Int32, value: Value, weight: Int, expiresAt: UInt64) -> Bool {
        let charge = weight + overhead + records[Int(slot)]!.key.retainedBytes
        guard weight <= maxEntryBytes, charge <= stats.capacityBytes else {
            stats.rejectedTooLarge += 1
            remove(slot)
            return false
        }
        let old = records[Int(slot)]!
        if old.value == nil { stats.entries += 1 }
        stats.bytes += charge - old.charge
        addBytes(charge - old.charge, to: old.queue)
        records[Int(slot)]!.value = value
        records[Int(slot)]!.charge = charge
        records[Int(slot)]!.expiresAt = expiresAt
        stats.insertions += 1
        evictToCapacity(keeping: slot)
        return true
    }

    /// A new record (a lease or a write's): into main if the ghost remembers the key, else into small.
    @inlinable mutating func insert(_ key: Key, value: Value?, charge: Int, expiresAt: UInt64) -> Int32 {
        let queue: Queue = ghost.remove(key.stripeHash) ? .main : .small
        // Room first, then the record, as S3-FIFO does: what eviction passes over goes to the head ahead of it.
        evictToCapacity(incoming: charge, keeping: Self.none)
        let record = Record(
            key: key, value: value, charge: charge, expiresAt: expiresAt, version: nextVersion, queue: queue)
        nextVersion += 1
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            records[Int(slot)] = record
        } else {
            slot = Int32(records.count)
            records.append(record)
        }
        index[key] = slot
        stats.bytes += charge
        if value != nil { stats.entries += 1 }
        linkAtHead(slot)
        return slot
    }

    /// Evicts until the budget holds `incoming` more bytes, never `kept` (a record whose charge just grew).
    /// Stops if nothing else is left.
    @inlinable mutating func evictToCapacity(incoming: Int = 0, keeping kept: Int32) {
        while stats.bytes + incoming > stats.capacityBytes {
            let fromSmall =
                bytes(of: .small, besides: kept) >= smallCapacity || candidate(main.tail, besides: kept) == Self.none
            if fromSmall ? evictFromSmall(keeping: kept) : evictFromMain(keeping: kept) { continue }
            // The preferred queue held only `kept`; the other may still have a victim.
            guard fromSmall ? evictFromMain(keeping: kept) : evictFromSmall(keeping: kept) else { break }
        }
    }

    /// Bytes charged in a queue, not counting `kept`: the policy decides as if the record being stored were not in
    /// yet, as S3-FIFO evicts before it inserts.
    @inlinable func bytes(of queue: Queue, besides kept: Int32) -> Int {
        let held = queue == .small ? small.bytes : main.bytes
        guard kept != Self.none, let record = records[Int(kept)], record.queue == queue else { return held }
        return held - record.charge
    }

    /// The oldest record of a queue other than `kept`: its tail, or the one just newer when the tail is `kept`.
    @inlinable func candidate(_ tail: Int32, besides kept: Int32) -> Int32 {
        tail != Self.none && tail == kept ? records[Int(tail)]!.prev : tail
    }

    /// Takes the small queue's oldest records: one read again moves to main (which may evict there), one not read
    /// is evicted and remembered by the ghost. Returns whether a record left the cache.
    @inlinable mutating func evictFromSmall(keeping kept: Int32) -> Bool {
        while true {
            let slot = candidate(small.tail, besides: kept)
            guard slot != Self.none else { return false }
            guard records[Int(slot)]!.frequency == 0 else {
                unlink(slot)
                records[Int(slot)]!.queue = .main
                records[Int(slot)]!.frequency = 0
                linkAtHead(slot)
                if bytes(of: .main, besides: kept) > stats.capacityBytes - smallCapacity,
                    evictFromMain(keeping: kept)
                {
                    return true
                }
                continue
            }
            // As many keys as the cache holds besides this record and `kept`.
            ghost.insert(records[Int(slot)]!.key.stripeHash, limit: max(index.count - (kept == Self.none ? 1 : 2), 1))
            evict(slot)
            return true
        }
    }

    /// Takes main's oldest records: one with read credit spends one and goes back to the head, one without is
    /// evicted. Terminates: every pass over a record lowers its credit. Returns whether a record left the cache.
    @inlinable mutating func evictFromMain(keeping kept: Int32) -> Bool {
        while true {
            let slot = candidate(main.tail, besides: kept)
            guard slot != Self.none else { return false }
            let frequency = records[Int(slot)]!.frequency
            guard frequency == 0 else {
                records[Int(slot)]!.frequency = frequency - 1
                unlink(slot)
                linkAtHead(slot)
                continue
            }
            evict(slot)
            return true
        }
    }

    @inlinable mutating func evict(_ slot: Int32) {
        let record = records[Int(slot)]!
        if record.value != nil {
            stats.evictions += 1
            stats.evictedBytes += record.charge
        }
        remove(slot)
    }

    /// Removes a stored value that may no longer be served: expired, or discarded by its owner (counted as an
    /// invalidation, which is what its owner did to it).
    @inlinable mutating func reclaim(_ slot: Int32, now: UInt64) {
        if records[Int(slot)]!.expiresAt <= now {
            stats.expirations += 1
        } else {
            stats.invalidations += 1
        }
        remove(slot)
    }

    @inlinable mutating func remove(_ slot: Int32) {
        let record = records[Int(slot)]!
        unlink(slot)
        index[record.key] = nil
        records[Int(slot)] = nil
        freeSlots.append(slot)
        stats.bytes -= record.charge
        if record.value != nil { stats.entries -= 1 }
    }

    @inlinable mutating func addBytes(_ delta: Int, to queue: Queue) {
        switch queue {
        case .small: small.bytes += delta
        case .main: main.bytes += delta
        }
    }

    /// Links a record at the head of the queue it names, and charges that queue.
    @inlinable mutating func linkAtHead(_ slot: Int32) {
        let record = records[Int(slot)]!
        var ends = record.queue == .small ? small : main
        records[Int(slot)]!.prev = Self.none
        records[Int(slot)]!.next = ends.head
        if ends.head != Self.none { records[Int(ends.head)]!.prev = slot }
        ends.head = slot
        if ends.tail == Self.none { ends.tail = slot }
        ends.bytes += record.charge
        if record.queue == .small { small = ends } else { main = ends }
    }

    /// Unlinks a record from its queue, and takes its charge off that queue.
    @inlinable mutating func unlink(_ slot: Int32) {
        let record = records[Int(slot)]!
        var ends = record.queue == .small ? small : main
        if record.prev != Self.none { records[Int(record.prev)]!.next = record.next } else { ends.head = record.next }
        if record.next != Self.none { records[Int(record.next)]!.prev = record.prev } else { ends.tail = record.prev }
        ends.bytes -= record.charge
        if record.queue == .small { small = ends } else { main = ends }
    }

    // MARK: Invariants

    @usableFromInline
    func validate() -> [String] {
        var problems: [String] = []
        var count = 0
        var bytes = 0
        var entries = 0
        for (queue, ends) in [(Queue.small, small), (Queue.main, main)] {
            var queueBytes = 0
            var previous = Self.none
            var slot = ends.head
            while slot != Self.none {
                guard let record = records[Int(slot)] else {
                    problems.append("\(queue) reaches free slot \(slot)")
                    break
                }
                if record.queue != queue { problems.append("slot \(slot) is in \(queue) but says \(record.queue)") }
                if record.prev != previous { problems.append("slot \(slot): prev \(record.prev) != \(previous)") }
                if index[record.key] != slot { problems.append("slot \(slot): index does not point back") }
                if record.version >= nextVersion { problems.append("slot \(slot): version from the future") }
                if record.frequency > 3 { problems.append("slot \(slot): frequency \(record.frequency) over 3") }
                count += 1
                bytes += record.charge
                queueBytes += record.charge
                if record.value != nil { entries += 1 }
                previous = slot
                slot = record.next
                if count > records.count {
                    problems.append("\(queue) has a cycle")
                    return problems
                }
            }
            if previous != ends.tail { problems.append("\(queue) tail \(ends.tail) is not its last slot \(previous)") }
            if queueBytes != ends.bytes {
                problems.append("\(queue) holds \(queueBytes) bytes, accounted \(ends.bytes)")
            }
        }
        if count != index.count { problems.append("queues hold \(count) records != index count \(index.count)") }
        if count + freeSlots.count != records.count {
            problems.append("slots leak: \(count) + \(freeSlots.count) != \(records.count)")
        }
        if bytes != stats.bytes { problems.append("charged bytes \(bytes) != accounted \(stats.bytes)") }
        if entries != stats.entries { problems.append("entries \(entries) != accounted \(stats.entries)") }
        if stats.bytes > stats.capacityBytes {
            problems.append("bytes \(stats.bytes) over capacity \(stats.capacityBytes)")
        }
        problems += ghost.validate()
        return problems
    }
}
