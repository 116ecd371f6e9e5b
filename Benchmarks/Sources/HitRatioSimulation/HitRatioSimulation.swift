// Design note: the hit-ratio simulator.
//
// What it measures: the fraction of reads a cache of a given size serves, on fixed-seed synthetic traces, for
// the real CacheStore, the policies it was weighed against (LRU, SIEVE, W-TinyLFU, and a plain S3-FIFO it must
// match) and Bélády's optimum. It says nothing about speed; throughput is the package-benchmark targets' job, on a
// pre-filled cache (STYLE.md, habit 12; Caffeine keeps its simulator apart from its JMH benchmarks the same way).
//
// Why these: the optimum bounds what any policy could gain on a trace, LRU is what the store was before and the
// floor it must not fall below, SIEVE and W-TinyLFU are the alternatives (CandidatePolicies.swift), and the store
// is run through its public API exactly as the proxy drives it, so lease records, write tickets and byte
// accounting are all in the loop. With one shard the store must hit exactly as often as the plain S3-FIFO
// (checked below): byte budgets and leases must not change the policy.
//
// Sizes are in entries: every value has the same weight and the store's budget is entries x (weight + its
// per-entry overhead), so the three policies hold the same number of entries. With one shard that is exact; with
// more, each shard holds budget / shards and uneven hashing costs a little capacity (the `shards` setting shows
// how much).
//
// Deterministic: traces are a function of (spec, accesses, keys, seed) alone, and every policy is replayed
// single-threaded, so a run prints the same table every time.

import CacheCore

/// Settings of one simulation run.
package struct SimulationConfiguration: Sendable {
    package var accesses = 1_000_000
    package var keys = 100_000
    package var seed: UInt64 = 42
    /// Cache sizes as fractions of the key space.
    package var sizeFractions: [Double] = [0.001, 0.01, 0.1]
    package var traces: [TraceSpec] = TraceSpec.standard
    /// Bytes charged per value in the store (the overhead comes on top).
    package var weight = 400
    /// Store shards; 1 makes its capacity exact. The proxy runs 64.
    package var shards = 1

    package init() {}
}

/// One line of the table: one trace at one cache size.
package struct SimulationRow: Sendable, Encodable, Hashable {
    package var trace: String
    package var sizeFraction: Double
    package var entries: Int
    package var store: ReplayResult
    package var lru: ReplayResult
    package var s3fifo: ReplayResult
    package var sieve: ReplayResult
    package var tinyLFU: ReplayResult
    package var optimal: ReplayResult
}

/// A sanity check that failed: the simulator's numbers cannot be trusted.
package struct SimulationError: Error, CustomStringConvertible {
    package var description: String
}

package enum HitRatioSimulation {
    /// Replays every trace at every size against the three policies, checking each row.
    /// `progress` is called after each row, for a long run's output.
    package static func run(
        _ configuration: SimulationConfiguration,
        progress: (SimulationRow) -> Void = { _ in }
    ) throws(SimulationError) -> [SimulationRow] {
        var rows: [SimulationRow] = []
        for spec in configuration.traces {
            let trace = spec.makeTrace(
                accesses: configuration.accesses, keys: configuration.keys, seed: configuration.seed)
            for fraction in configuration.sizeFractions {
                let entries = max(1, Int((Double(configuration.keys) * fraction).rounded()))
                let row = try replay(trace, named: spec.name, sizeFraction: fraction, entries: entries, configuration)
                rows.append(row)
                progress(row)
            }
        }
        return rows
    }

    /// Replays one trace at one size and checks the result.
    package static func replay(
        _ trace: Trace,
        named name: String,
        sizeFraction: Double,
        entries: Int,
        _ configuration: SimulationConfiguration
    ) throws(SimulationError) -> SimulationRow {
        var store = StoreReplay(entries: entries, weight: configuration.weight, shards: configuration.shards)
        let storeResult = store.replay(trace)
        var lru = LRUReference(capacity: entries, keyCount: trace.keyCount)
        var s3fifo = S3FIFOReference(capacity: entries, keyCount: trace.keyCount)
        var sieve = SIEVEReference(capacity: entries, keyCount: trace.keyCount)
        var tinyLFU = WTinyLFUReference(capacity: entries, keyCount: trace.keyCount)
        let row = SimulationRow(
            trace: name,
            sizeFraction: sizeFraction,
            entries: entries,
            store: storeResult,
            lru: lru.replay(trace),
            s3fifo: s3fifo.replay(trace),
            sieve: sieve.replay(trace),
            tinyLFU: tinyLFU.replay(trace),
            optimal: OptimalReplay.replay(trace, capacity: entries)
        )
        try check(row, trace: trace, store: store.store, configuration)
        return row
    }

    static func check(
        _ row: SimulationRow,
        trace: Trace,
        store: CacheStore<SimulatedKey, Int32>,
        _ configuration: SimulationConfiguration
    ) throws(SimulationError) {
        func fail(_ problem: String) throws(SimulationError) {
            throw SimulationError(description: "\(row.trace) at \(row.entries) entries: \(problem)")
        }
        if row.optimal.hits < row.lru.hits { try fail("optimal \(row.optimal.hits) < LRU \(row.lru.hits) hits") }
        for (name, result) in [
            ("store", row.store), ("S3-FIFO", row.s3fifo), ("SIEVE", row.sieve), ("W-TinyLFU", row.tinyLFU),
        ] where row.optimal.hits < result.hits {
            try fail("optimal \(row.optimal.hits) < \(name) \(result.hits) hits")
        }
        // No policy hits a key's first read unless a write brought it in first.
        var seen = Array(repeating: false, count: trace.keyCount)
        var compulsory = 0
        for access in trace.accesses {
            if !seen[Int(access.key)] && !access.isWrite { compulsory += 1 }
            seen[Int(access.key)] = true
        }
        if row.optimal.hits > row.optimal.reads - compulsory {
            try fail(
                "optimal \(row.optimal.hits) hits beats the compulsory-miss bound \(row.optimal.reads - compulsory)")
        }
        let stats = store.stats()
        if stats.hits != row.store.hits { try fail("store counted \(stats.hits) hits, the replay \(row.store.hits)") }
        if stats.entries > row.entries { try fail("store holds \(stats.entries) entries, more than \(row.entries)") }
        if stats.discardedFills != 0 || stats.rejectedTooLarge != 0 {
            try fail("store discarded \(stats.discardedFills) fills, rejected \(stats.rejectedTooLarge) values")
        }
        let problems = store.validate()
        if !problems.isEmpty { try fail("store invariants: \(problems.joined(separator: "; "))") }
        if configuration.shards == 1 {
            if row.store.hits != row.s3fifo.hits {
                try fail("store \(row.store.hits) and S3-FIFO \(row.s3fifo.hits) hits with one shard; the same policy")
            }
        }
    }
}
