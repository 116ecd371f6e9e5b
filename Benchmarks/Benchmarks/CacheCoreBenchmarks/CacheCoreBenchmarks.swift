import Benchmark
import CacheCore
import Foundation
import LoadGenerator

/// A key shaped like the item cache's: a few dozen bytes, hashed once.
struct BenchKey: CacheKey {
    let bytes: [UInt8]
    let stripeHash: UInt64

    init(_ id: Int) {
        var text = Array("bench-table\u{0}p\(id)\u{0}s\(id % 10)".utf8)
        text.reserveCapacity(40)
        bytes = text
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        stripeHash = hash ^ (hash >> 29)
    }

    var retainedBytes: Int { AllocationSize.of(bytes) }

    static func == (lhs: BenchKey, rhs: BenchKey) -> Bool { lhs.bytes == rhs.bytes }
    func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
}

/// A stored answer stands in as a class reference, as the item cache stores one.
final class BenchValue: Sendable {
    let size: Int
    init(size: Int) { self.size = size }
}

let keyCount = 100_000
let keys = (0..<keyCount).map(BenchKey.init)
let value = BenchValue(size: 400)

/// A store holding every key, as a warmed cache does.
func filledStore() -> CacheStore<BenchKey, BenchValue> {
    let store = CacheStore<BenchKey, BenchValue>(
        configuration: CacheStoreConfiguration(capacityBytes: 1 << 30, shardCount: 64)
    )
    for key in keys {
        if case .miss(let ticket) = store.lookup(key, now: 0) {
            store.completeFill(key, ticket: ticket, value: value, weight: 400, expiresAt: .max)
        }
    }
    return store
}

/// Zipf(0.99) ranks over the keys, precomputed so that the benchmark measures the store, not the sampler.
func zipfSequence(count: Int, theta: Double = 0.99) -> [Int] {
    let zipf = ZipfGenerator(n: keyCount, theta: theta)
    var random = SplitMix64(seed: 42)
    return (0..<count).map { _ in zipf.next(using: &random) }
}

// Names carry no spaces: package-benchmark writes threshold files with spaces replaced but reads them without.
// A write is beginWrite + completeWrite, as the proxy does around every write; a fill is lookup (miss) +
// completeFill into a full store, so each one evicts.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    let sequence = zipfSequence(count: 10_000)

    Benchmark("get-hit-zipf-1-thread-10k") { benchmark, store in
        for _ in benchmark.scaledIterations {
            for index in sequence { blackHole(store.get(keys[index], now: 1)) }
        }
    } setup: {
        filledStore()
    }

    Benchmark("get-hit-zipf-2-threads-2x10k") { benchmark, store in
        for _ in benchmark.scaledIterations {
            await withTaskGroup(of: Void.self) { group in
                for offset in 0..<2 {
                    group.addTask {
                        for index in sequence { blackHole(store.get(keys[(index + offset) % keyCount], now: 1)) }
                    }
                }
            }
        }
    } setup: {
        filledStore()
    }

    Benchmark("write-zipf-1-thread-10k") { benchmark, store in
        for _ in benchmark.scaledIterations {
            for index in sequence {
                let key = keys[index]
                let ticket = store.beginWrite(key)
                store.completeWrite(key, ticket: ticket, value: value, weight: 400, expiresAt: .max)
            }
        }
    } setup: {
        filledStore()
    }

    Benchmark("write-zipf-2-threads-2x10k") { benchmark, store in
        for _ in benchmark.scaledIterations {
            await withTaskGroup(of: Void.self) { group in
                for offset in 0..<2 {
                    group.addTask {
                        for index in sequence {
                            let key = keys[(index + offset) % keyCount]
                            let ticket = store.beginWrite(key)
                            store.completeWrite(key, ticket: ticket, value: value, weight: 400, expiresAt: .max)
                        }
                    }
                }
            }
        }
    } setup: {
        filledStore()
    }

    Benchmark("fill-with-eviction-1-thread-10k") {
        (benchmark, store: CacheStore<BenchKey, BenchValue>) in
        var next = keyCount
        for _ in benchmark.scaledIterations {
            for _ in 0..<10_000 {
                let key = BenchKey(next)
                next += 1
                if case .miss(let ticket) = store.lookup(key, now: 1) {
                    store.completeFill(key, ticket: ticket, value: value, weight: 400, expiresAt: .max)
                }
            }
        }
    } setup: { () -> CacheStore<BenchKey, BenchValue> in
        // Room for about half the keys: every fill evicts.
        let store = CacheStore<BenchKey, BenchValue>(
            configuration: CacheStoreConfiguration(capacityBytes: keyCount / 2 * 500, shardCount: 64)
        )
        for key in keys {
            if case .miss(let ticket) = store.lookup(key, now: 0) {
                store.completeFill(key, ticket: ticket, value: value, weight: 400, expiresAt: .max)
            }
        }
        return store
    }
}
