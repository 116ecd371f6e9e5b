/// One lock stripe of a ``CacheStore``: a hash map onto an array of records threaded on an intrusive LRU list.
/// Always accessed under its shard's Mutex. See the design note in CacheStore.swift.
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
        @usableFromInline var prev: Int32
        @usableFromInline var next: Int32

        @inlinable
        init(key: Key, value: Value?, charge: Int, expiresAt: UInt64, version: UInt64, prev: Int32, next: Int32) {
            self.key = key
            self.value = value
            self.charge = charge
            self.expiresAt = expiresAt
            self.version = version
            self.prev = prev
            self.next = next
        }
    }

    @inlinable static var none: Int32 { -1 }

    @usableFromInline var index: [Key: Int32] = [:]
    @usableFromInline var records: [Record?] = []
    @usableFromInline var freeSlots: [Int32] = []
    /// Most recently used.
    @usableFromInline var head: Int32 = none
    /// Least recently used: evicted first.
    @usableFromInline var tail: Int32 = none
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
    }

    // MARK: Operations

    @inlinable mutating func get(_ key: Key, now: UInt64, discards: @Sendable (Value) -> Bool) -> Value? {
        if let slot = index[key], let value = records[Int(slot)]!.value {
            if records[Int(slot)]!.expiresAt > now, !discards(value) {
                stats.hits += 1
                moveToFront(slot)
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
            let record = records[Int(slot)]!
            if let value = record.value, record.expiresAt <= now || discards(value) {
                reclaim(slot, now: now)
            } else {
                moveToFront(slot)
                if let value = record.value, accept(value) {
                    stats.hits += 1
                    return .hit(value)
                }
                // A lease (a fill or write in flight: this fill shares its version) or a refused value.
                stats.misses += 1
                return .miss(FillTicket(version: record.version))
            }
        }
        stats.misses += 1
        let slot = insert(key, value: nil, charge: overhead, expiresAt: 0)
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
        let slot = index[key] ?? insert(key, value: nil, charge: overhead, expiresAt: 0)
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
        head = Self.none
        tail = Self.none
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

    // MARK: Records and the LRU list

    @discardableResult
    @inlinable mutating func bumpVersion(_ slot: Int32) -> UInt64 {
        let version = nextVersion
        nextVersion += 1
        records[Int(slot)]!.version = version
        return version
    }

    /// Puts a value into an existing record, charging its weight; refuses values over the entry limit.
    @discardableResult
    @inlinable mutating func store(_ slot: Int32, value: Value, weight: Int, expiresAt: UInt64) -> Bool {
        let charge = weight + overhead
        guard weight <= maxEntryBytes, charge <= stats.capacityBytes else {
            stats.rejectedTooLarge += 1
            remove(slot)
            return false
        }
        let old = records[Int(slot)]!
        if old.value == nil { stats.entries += 1 }
        stats.bytes += charge - old.charge
        records[Int(slot)]!.value = value
        records[Int(slot)]!.charge = charge
        records[Int(slot)]!.expiresAt = expiresAt
        stats.insertions += 1
        moveToFront(slot)
        evictToCapacity(keeping: slot)
        return true
    }

    @inlinable mutating func insert(_ key: Key, value: Value?, charge: Int, expiresAt: UInt64) -> Int32 {
        let record = Record(
            key: key,
            value: value,
            charge: charge,
            expiresAt: expiresAt,
            version: nextVersion,
            prev: Self.none,
            next: Self.none
        )
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
        linkAtFront(slot)
        evictToCapacity(keeping: slot)
        return slot
    }

    @inlinable mutating func evictToCapacity(keeping kept: Int32) {
        while stats.bytes > stats.capacityBytes, tail != Self.none {
            let victim = tail == kept ? records[Int(tail)]!.prev : tail
            guard victim != Self.none else { break }
            let record = records[Int(victim)]!
            if record.value != nil {
                stats.evictions += 1
                stats.evictedBytes += record.charge
            }
            remove(victim)
        }
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

    @inlinable mutating func linkAtFront(_ slot: Int32) {
        records[Int(slot)]!.prev = Self.none
        records[Int(slot)]!.next = head
        if head != Self.none { records[Int(head)]!.prev = slot }
        head = slot
        if tail == Self.none { tail = slot }
    }

    @inlinable mutating func unlink(_ slot: Int32) {
        let prev = records[Int(slot)]!.prev
        let next = records[Int(slot)]!.next
        if prev != Self.none { records[Int(prev)]!.next = next } else { head = next }
        if next != Self.none { records[Int(next)]!.prev = prev } else { tail = prev }
    }

    @inlinable mutating func moveToFront(_ slot: Int32) {
        guard head != slot else { return }
        unlink(slot)
        linkAtFront(slot)
    }

    // MARK: Invariants

    @usableFromInline
    func validate() -> [String] {
        var problems: [String] = []
        var count = 0
        var bytes = 0
        var entries = 0
        var previous = Self.none
        var slot = head
        while slot != Self.none {
            guard let record = records[Int(slot)] else {
                problems.append("list reaches free slot \(slot)")
                break
            }
            if record.prev != previous { problems.append("slot \(slot): prev \(record.prev) != \(previous)") }
            if index[record.key] != slot { problems.append("slot \(slot): index does not point back") }
            if record.version >= nextVersion { problems.append("slot \(slot): version from the future") }
            count += 1
            bytes += record.charge
            if record.value != nil { entries += 1 }
            previous = slot
            slot = record.next
            if count > records.count {
                problems.append("list has a cycle")
                break
            }
        }
        if previous != tail { problems.append("tail \(tail) is not the list's last slot \(previous)") }
        if count != index.count { problems.append("list length \(count) != index count \(index.count)") }
        if count + freeSlots.count != records.count {
            problems.append("slots leak: \(count) + \(freeSlots.count) != \(records.count)")
        }
        if bytes != stats.bytes { problems.append("charged bytes \(bytes) != accounted \(stats.bytes)") }
        if entries != stats.entries { problems.append("entries \(entries) != accounted \(stats.entries)") }
        if stats.bytes > stats.capacityBytes {
            problems.append("bytes \(stats.bytes) over capacity \(stats.capacityBytes)")
        }
        return problems
    }
}
