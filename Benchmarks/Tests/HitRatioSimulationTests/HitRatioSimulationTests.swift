import Foundation
import HitRatioSimulation
import LoadGenerator
import Testing

/// Hit counts of the store, the plain LRU and S3-FIFO, and the optimum on one trace.
private func hits(_ trace: Trace, capacity: Int) -> (store: Int, lru: Int, s3fifo: Int, optimal: Int) {
    var store = StoreReplay(entries: capacity, weight: 400, shards: 1)
    var lru = LRUReference(capacity: capacity, keyCount: trace.keyCount)
    var s3fifo = S3FIFOReference(capacity: capacity, keyCount: trace.keyCount)
    return (
        store.replay(trace).hits, lru.replay(trace).hits, s3fifo.replay(trace).hits,
        OptimalReplay.replay(trace, capacity: capacity).hits
    )
}

private let a: Int32 = 0
private let b: Int32 = 1
private let c: Int32 = 2

@Suite struct HandMadeTraces {
    @Test func cyclicScanOneLargerThanTheCache() {
        // A B C repeated with room for two: LRU always evicts the key needed next and never hits. The optimum
        // keeps A and B resident and lets C bypass: after the first round, A and B hit in every round. S3-FIFO's
        // ghost brings A back into main in round two, where it survives B and C and hits in round three.
        let trace = Trace(reads: [a, b, c, a, b, c, a, b, c])
        let result = hits(trace, capacity: 2)
        #expect(result.lru == 0)
        #expect(result.store == 1)
        #expect(result.s3fifo == 1)
        #expect(result.optimal == 4)
    }

    @Test func workingSetThatFitsHitsAfterFirstRound() {
        let trace = Trace(reads: [a, b, a, b, a, b])
        let result = hits(trace, capacity: 2)
        #expect(result.lru == 4)
        #expect(result.store == 4)
        #expect(result.optimal == 4)
    }

    @Test func aOnePassScanDoesNotFlushAKeyReadTwice() {
        // Room for ten: A read twice, then twenty keys read once, then A. LRU has pushed A out by then; S3-FIFO
        // moved A to main when its turn came in the small queue and evicted only the keys read once.
        let trace = Trace(reads: [a, a] + (1...20).map { Int32($0) } + [a])
        let result = hits(trace, capacity: 10)
        #expect(result.lru == 1)
        #expect(result.store == 2)
        #expect(result.s3fifo == 2)
    }

    @Test func lruEvictsTheOlderOfTwo() {
        // Capacity 2: A B A C B. LRU evicts B for C (A was used more recently), so B misses: hit only on A.
        // The optimum evicts A (never used again) or bypasses C, keeping B: A and B hit.
        let trace = Trace(reads: [a, b, a, c, b])
        let result = hits(trace, capacity: 2)
        #expect(result.lru == 1)
        #expect(result.store == 1)
        #expect(result.optimal == 2)
    }

    @Test func writeInstallsTheKey() {
        // A write-through write stores the value, so the following read hits in every policy.
        let trace = Trace(accesses: [.write(a), .read(a)], keyCount: 1)
        let result = hits(trace, capacity: 1)
        #expect(result.lru == 1)
        #expect(result.store == 1)
        #expect(result.optimal == 1)
    }

    @Test func optimumDoesNotCacheAWriteReadNeverAgain() {
        // Capacity 1: read A, write B, read A. LRU and the store cache B on the write and lose A; the optimum
        // declines B (never read) and keeps A.
        let trace = Trace(accesses: [.read(a), .write(b), .read(a)], keyCount: 2)
        let result = hits(trace, capacity: 1)
        #expect(result.lru == 0)
        #expect(result.store == 0)
        #expect(result.optimal == 1)
    }

    @Test func copyOverwrittenBeforeItsNextReadIsWorthless() {
        // Next use of A at position 0 is "never": A is written (position 2) before it is read again.
        let trace = Trace(accesses: [.read(a), .read(b), .write(a), .read(b), .read(a)], keyCount: 2)
        let uses = OptimalReplay.nextUses(trace)
        #expect(uses[0] >= trace.accesses.count)
        #expect(uses[1] == 3)
        #expect(uses[2] == 4)
        #expect(hits(trace, capacity: 1).optimal == 1)
    }

    @Test func writesReadsAndRereadsTallied() {
        let trace = Trace(accesses: [.read(a), .write(a), .read(a), .read(b)], keyCount: 2)
        var lru = LRUReference(capacity: 1, keyCount: 2)
        #expect(lru.replay(trace) == ReplayResult(reads: 3, hits: 1))
    }
}

@Suite struct RandomTraces {
    @Test(arguments: [1, 3, 10, 50])
    func storeMatchesS3FIFOAndOptimumBoundsAll(capacity: Int) {
        // Small random mixes with writes: the store with one shard is the plain S3-FIFO (to within a lease's
        // effect on the byte thresholds, see the simulation's note), and the optimum is never below any policy and
        // never above the compulsory-miss bound.
        var random = SplitMix64(seed: UInt64(capacity))
        let accesses = (0..<5_000).map { _ in
            Access(key: Int32(random.next() % 200), isWrite: random.next() % 4 == 0)
        }
        let trace = Trace(accesses: accesses, keyCount: 200)
        let result = hits(trace, capacity: capacity)
        #expect(result.store == result.s3fifo)
        #expect(result.optimal >= max(result.lru, result.store, result.s3fifo))
        var seen = Set<Int32>()
        let compulsory = accesses.count(where: { access in !access.isWrite && seen.insert(access.key).inserted })
        #expect(result.optimal <= trace.readCount - compulsory)
    }

    @Test func optimumMatchesBruteForceOnTinyTraces() throws {
        // Exhaustive search over every keep/evict/bypass choice on short traces: the greedy optimum must equal it.
        var random = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let accesses = (0..<10).map { _ in Access(key: Int32(random.next() % 4), isWrite: random.next() % 3 == 0) }
            let trace = Trace(accesses: accesses, keyCount: 4)
            for capacity in 1...3 {
                #expect(
                    OptimalReplay.replay(trace, capacity: capacity).hits
                        == bruteForceOptimum(trace.accesses[...], capacity: capacity, resident: [])
                )
            }
        }
    }

    /// The best hit count over every policy that may, on a miss or write, keep or drop any key.
    private func bruteForceOptimum(_ rest: ArraySlice<Access>, capacity: Int, resident: Set<Int32>) -> Int {
        guard let access = rest.first else { return 0 }
        let tail = rest.dropFirst()
        if !access.isWrite && resident.contains(access.key) {
            return 1 + bruteForceOptimum(tail, capacity: capacity, resident: resident)
        }
        // A write makes any held copy stale: drop it, then maybe install the new value.
        var without = resident
        without.remove(access.key)
        var best = bruteForceOptimum(tail, capacity: capacity, resident: without)
        if without.count < capacity {
            best = max(best, bruteForceOptimum(tail, capacity: capacity, resident: without.union([access.key])))
        } else {
            for victim in without {
                var swapped = without
                swapped.remove(victim)
                swapped.insert(access.key)
                best = max(best, bruteForceOptimum(tail, capacity: capacity, resident: swapped))
            }
        }
        return best
    }
}

@Suite struct Generators {
    @Test func sameSeedSameTrace() {
        let spec = TraceSpec(name: "t", theta: 0.99, writeFraction: 0.3)
        let first = spec.makeTrace(accesses: 10_000, keys: 1_000, seed: 1)
        #expect(first.accesses == spec.makeTrace(accesses: 10_000, keys: 1_000, seed: 1).accesses)
        #expect(first.accesses != spec.makeTrace(accesses: 10_000, keys: 1_000, seed: 2).accesses)
    }

    @Test(arguments: [0.6, 0.99, 1.2])
    func rankOneFrequencyMatchesZipf(theta: Double) {
        let zipf = ZipfGenerator(n: 1_000, theta: theta)
        var random = SplitMix64(seed: 3)
        let draws = 200_000
        var counts = Array(repeating: 0, count: zipf.n)
        for _ in 0..<draws { counts[zipf.next(using: &random)] += 1 }
        for rank in [0, 1, 9] {
            let expected = zipf.probability(ofRank: rank) * Double(draws)
            // Five standard deviations of a binomial count: a real bias fails, noise does not.
            let tolerance = 5 * (expected * (1 - expected / Double(draws))).squareRoot()
            #expect(abs(Double(counts[rank]) - expected) < tolerance, "rank \(rank + 1)")
        }
        #expect(counts.allSatisfy { $0 >= 0 } && counts.reduce(0, +) == draws)
    }

    @Test func scanTraceHasItsScans() {
        let spec = TraceSpec(name: "s", theta: 0.99, periodicScan: true)
        let trace = spec.makeTrace(accesses: 1_000, keys: 200, seed: 1)
        // Period 100, scan of the 40 coldest keys in the last 40 accesses of each period.
        for period in 0..<10 {
            let scan = trace.accesses[(period * 100 + 60)..<(period * 100 + 100)].map(\.key)
            #expect(scan == Array(160..<200))
        }
        #expect(trace.accesses.allSatisfy { !$0.isWrite })
    }

    @Test func writeFractionIsRoughlyRight() {
        let spec = TraceSpec(name: "w", theta: 0.99, writeFraction: 0.3)
        let trace = spec.makeTrace(accesses: 100_000, keys: 1_000, seed: 1)
        let writes = Double(trace.accesses.count - trace.readCount) / 100_000
        #expect(abs(writes - 0.3) < 0.01)
    }
}
