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

/// The last five minutes of samples, one per second; the sampler runs off the request path.
package final class StatisticsHistory: Sendable {
    package static let capacity = 300
    private let samples = Mutex<[StatisticsSample]>([])

    package init() {}

    /// Takes a snapshot now. `time` is wall-clock seconds (for display); `residentBytes` from the allocator.
    package func sample(from proxy: DynamoProxy, time: Double, residentBytes: Int?) {
        let statistics = proxy.statistics
        let items = proxy.itemCacheStats()
        let sample = StatisticsSample(
            time: time,
            requests: statistics.requests.reduce(0) { $0 + $1.value },
            itemHits: items.hits,
            itemMisses: items.misses,
            queryHits: statistics.queryHits.value,
            queryMisses: statistics.queryMisses.value,
            scanHits: statistics.scanHits.value,
            scanMisses: statistics.scanMisses.value,
            latency: statistics.latency.counts(),
            residentBytes: residentBytes
        )
        samples.withLock { samples in
            samples.append(sample)
            if samples.count > Self.capacity { samples.removeFirst(samples.count - Self.capacity) }
        }
    }

    package func all() -> [StatisticsSample] {
        samples.withLock { $0 }
    }
}
