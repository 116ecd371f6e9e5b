import CacheCore
import LoadGenerator

/// A key of the simulated store: the dense id, spread over shards by a mixed hash as real keys are.
package struct SimulatedKey: CacheKey {
    package let id: Int32
    package var stripeHash: UInt64 { SplitMix64.mix(UInt64(UInt32(bitPattern: id))) }
    package var retainedBytes: Int { 0 }
}

/// The real ``CacheStore`` driven as the proxy drives it: a read is `lookup`, and on a miss `completeFill`
/// with the same fixed weight for every key; a write is `beginWrite` then `completeWrite` with the new value
/// (the proxy's PutItem / UpdateItem ALL_NEW path). Nothing expires: TTL is out of scope for hit ratio.
package struct StoreReplay: OnlineReplayPolicy {
    /// Bytes each value is charged, before the store's per-entry overhead.
    package let weight: Int
    package let store: CacheStore<SimulatedKey, Int32>

    /// A store whose byte budget holds exactly `entries` entries of `weight` bytes, overhead included. With more
    /// than one shard each shard gets budget / shards, so the whole holds `entries` only if keys spread evenly.
    package init(entries: Int, weight: Int, shards: Int) {
        self.weight = weight
        var configuration = CacheStoreConfiguration(capacityBytes: 0, shardCount: shards)
        configuration.capacityBytes = entries * (weight + CacheStore<SimulatedKey, Int32>.bookkeepingBytesPerRecord)
        store = CacheStore(configuration: configuration)
    }

    package func read(_ key: Int32, at position: Int) -> Bool {
        let cacheKey = SimulatedKey(id: key)
        let now = UInt64(position)
        switch store.lookup(cacheKey, now: now) {
        case .hit(let value):
            precondition(value == key, "store returned key \(value) for key \(key)")
            return true
        case .miss(let ticket):
            store.completeFill(cacheKey, ticket: ticket, value: key, weight: weight, expiresAt: .max)
            return false
        }
    }

    package func write(_ key: Int32, at position: Int) {
        let cacheKey = SimulatedKey(id: key)
        let ticket = store.beginWrite(cacheKey)
        store.completeWrite(cacheKey, ticket: ticket, value: key, weight: weight, expiresAt: .max)
    }
}
