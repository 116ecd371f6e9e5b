import CacheCore
import Synchronization

/// One second's snapshot of the cumulative counters, for `/stats` history and last-minute figures.
package struct StatisticsSample: Sendable {
    package var time: Double
    package var requests: Int
    package var itemHits: Int
    package var itemMisses: Int
    package var queryHits: Int
    package var queryMisses: Int
    package var scanHits: Int
    package var scanMisses: Int
    package var latency: [Int]
    package var residentBytes: Int?

    package var hits: Int { itemHits + queryHits + scanHits }
    package var misses: Int { itemMisses + queryMisses + scanMisses }
}

/// The last five minutes of samples, one per second; the sampler runs off the request path. The ring is
/// allocated whole at start, each slot's latency counts included, and samples are copied into it: what the history
/// holds after five minutes it holds from the first second, so the process's memory does not climb for its
/// first five minutes (a soak would read that as growth).
package final class StatisticsHistory: Sendable {
    package static let capacity = 300

    private struct Ring {
        var slots: [StatisticsSample]
        /// Where the next sample goes.
        var next = 0
        var count = 0
    }

    private let ring: Mutex<Ring>

    package init() {
        let empty = StatisticsSample(
            time: 0, requests: 0, itemHits: 0, itemMisses: 0, queryHits: 0, queryMisses: 0, scanHits: 0,
            scanMisses: 0, latency: [], residentBytes: nil)
        var slots = [StatisticsSample](repeating: empty, count: Self.capacity)
        for index in slots.indices { slots[index].latency = Array(repeating: 0, count: LatencyHistogram.bucketCount) }
        ring = Mutex(Ring(slots: slots))
    }

    /// Takes a snapshot now. `time` is wall-clock seconds (for display); `residentBytes` from the allocator.
    package func sample(from proxy: DynamoProxy, time: Double, residentBytes: Int?) {
        let statistics = proxy.statistics
        let items = proxy.itemCacheStats()
        let requests = statistics.requests.reduce(0) { $0 + $1.value }
        let latency = statistics.latency.counts()
        ring.withLock { ring in
            let index = ring.next
            ring.slots[index].time = time
            ring.slots[index].requests = requests
            ring.slots[index].itemHits = items.hits
            ring.slots[index].itemMisses = items.misses
            ring.slots[index].queryHits = statistics.queryHits.value
            ring.slots[index].queryMisses = statistics.queryMisses.value
            ring.slots[index].scanHits = statistics.scanHits.value
            ring.slots[index].scanMisses = statistics.scanMisses.value
            ring.slots[index].residentBytes = residentBytes
            // Into the slot's own array: no allocation, and a reader's copy (from `all()`) stays its own.
            ring.slots[index].latency.withUnsafeMutableBufferPointer { slot in
                for bucket in slot.indices { slot[bucket] = bucket < latency.count ? latency[bucket] : 0 }
            }
            ring.next = (index + 1) % Self.capacity
            ring.count = min(ring.count + 1, Self.capacity)
        }
    }

    /// The samples held, oldest first.
    package func all() -> [StatisticsSample] {
        ring.withLock { ring in
            let start = (ring.next - ring.count + Self.capacity) % Self.capacity
            return (0..<ring.count).map { ring.slots[(start + $0) % Self.capacity] }
        }
    }
}
