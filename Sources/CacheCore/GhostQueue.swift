/// S3-FIFO's ghost: the fingerprints (stripe hashes) of keys recently evicted from the small queue, oldest
/// forgotten first. A key met again while remembered was evicted too soon, so it enters main directly.
///
/// A FIFO ring of fingerprints with a dictionary of those alive. Forgetting one early (it was met again) leaves a
/// dead ring entry that is skipped when it reaches the front; the ring is compacted when dead entries are the
/// majority, so it never holds more than twice the live ones (plus 64). About 40 bytes per remembered key, and no
/// more keys than the shard held records when they were evicted (invalidations do not trim it): part of what the
/// per-entry overhead stands for.
@usableFromInline
struct GhostQueue: Sendable {
    /// Fingerprint -> serial of its live ring entry.
    @usableFromInline var alive: [UInt64: UInt64] = [:]
    @usableFromInline var ring: [(fingerprint: UInt64, serial: UInt64)] = []
    /// Index of the oldest ring entry.
    @usableFromInline var front = 0
    @usableFromInline var nextSerial: UInt64 = 0

    @inlinable init() {}

    @inlinable var count: Int { alive.count }

    /// Remembers a fingerprint, forgetting the oldest while more than `limit` are remembered.
    @inlinable mutating func insert(_ fingerprint: UInt64, limit: Int) {
        alive[fingerprint] = nextSerial
        ring.append((fingerprint, nextSerial))
        nextSerial += 1
        while alive.count > limit { popFront() }
        compactIfMostlyDead()
    }

    /// Forgets a fingerprint; returns whether it was remembered.
    @inlinable mutating func remove(_ fingerprint: UInt64) -> Bool {
        guard alive.removeValue(forKey: fingerprint) != nil else { return false }
        compactIfMostlyDead()
        return true
    }

    /// Dead entries behind the front, or forgotten early: once they are the majority, drop them (amortized O(1):
    /// at least half of what is copied was dead).
    @inlinable mutating func compactIfMostlyDead() {
        guard ring.count > 64, alive.count * 2 < ring.count else { return }
        ring = ring[front...].filter { alive[$0.fingerprint] == $0.serial }
        front = 0
    }

    @inlinable mutating func popFront() {
        while front < ring.count {
            let entry = ring[front]
            front += 1
            if alive[entry.fingerprint] == entry.serial {
                alive[entry.fingerprint] = nil
                return
            }
        }
    }

    func validate() -> [String] {
        var live = 0
        for entry in ring[front...] where alive[entry.fingerprint] == entry.serial { live += 1 }
        var problems: [String] = []
        if live != alive.count { problems.append("ghost: \(live) live ring entries for \(alive.count) fingerprints") }
        if ring.count > 2 * alive.count + 64 {
            problems.append("ghost: ring of \(ring.count) for \(alive.count) alive")
        }
        return problems
    }
}
