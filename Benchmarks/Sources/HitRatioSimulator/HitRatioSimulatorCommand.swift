// Replays fixed-seed traces against the real CacheStore (S3-FIFO), the policies it was weighed against (LRU,
// SIEVE, W-TinyLFU) and Bélády's optimum and prints their hit ratios, with the store's gain over LRU; see the design note in HitRatioSimulation.swift. Not a package-benchmark target: hit ratio is a property
// of the policy, not of the machine, so it is computed, not timed.
//
//   cd Benchmarks && swift run -c release HitRatioSimulator [--accesses N] [--keys N] [--seed N] [--json FILE]

import ArgumentParser
import Foundation
import HitRatioSimulation

@main
struct HitRatioSimulatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "HitRatioSimulator",
        abstract: "Hit ratio of the CacheStore, LRU, SIEVE, W-TinyLFU and the optimum on fixed-seed synthetic traces."
    )

    @Option(help: "Accesses per trace.")
    var accesses = 1_000_000

    @Option(help: "Size of the key space.")
    var keys = 100_000

    @Option(help: "Seed of every trace.")
    var seed: UInt64 = 42

    @Option(help: "Store shards (1 makes its capacity exact; the proxy runs 64).")
    var shards = 1

    @Option(help: "Bytes charged per value in the store, before its per-entry overhead.")
    var weight = 400

    @Option(help: "Also write the rows as JSON to this file.")
    var json: String?

    func validate() throws {
        guard accesses > 0, keys > 0, shards > 0, weight >= 0 else {
            throw ValidationError("--accesses, --keys and --shards must be positive, --weight non-negative")
        }
    }

    func run() throws {
        var configuration = SimulationConfiguration()
        configuration.accesses = accesses
        configuration.keys = keys
        configuration.seed = seed
        configuration.shards = shards
        configuration.weight = weight

        print(
            "Hit ratio (% of reads) | \(accesses) accesses per trace over \(keys) keys, seed \(seed), "
                + "store: \(shards) shard(s), \(weight) B values"
        )
        let header = [
            pad("trace", 16), pad("size", 6, left: true), pad("entries", 9, left: true),
            pad("store", 8, left: true), pad("LRU", 8, left: true), pad("vs LRU", 7, left: true),
            pad("SIEVE", 8, left: true), pad("TinyLFU", 8, left: true), pad("optimal", 8, left: true),
        ]
        print(header.joined(separator: " "))
        let start = ContinuousClock.now
        let rows: [SimulationRow]
        do {
            rows = try HitRatioSimulation.run(configuration) { row in
                let line = [
                    pad(row.trace, 16), pad(percent(row.sizeFraction, digits: 1), 6, left: true),
                    pad("\(row.entries)", 9, left: true), pad(percent(row.store.hitRatio), 8, left: true),
                    pad(percent(row.lru.hitRatio), 8, left: true),
                    pad(points(row.store.hitRatio - row.lru.hitRatio), 7, left: true),
                    pad(percent(row.sieve.hitRatio), 8, left: true), pad(percent(row.tinyLFU.hitRatio), 8, left: true),
                    pad(percent(row.optimal.hitRatio), 8, left: true),
                ]
                print(line.joined(separator: " "))
            }
        } catch {
            // A failed sanity check means the numbers above are wrong, not just disappointing.
            print("SANITY CHECK FAILED: \(error)")
            throw ExitCode.failure
        }
        let elapsed = (ContinuousClock.now - start).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        let storeCheck =
            shards == 1 ? "; store = plain S3-FIFO" : "; store vs plain S3-FIFO not checked with several shards"
        print("Checks passed (optimal >= every policy\(storeCheck)) in \(String(format: "%.1f", seconds)) s.")

        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = SimulationReport(
                accesses: accesses, keys: keys, seed: seed, shards: shards, weight: weight, rows: rows)
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            print("Wrote \(json)")
        }
    }
}

/// The JSON file: the run's settings and its rows, so that two files can be compared without guessing.
struct SimulationReport: Encodable {
    var accesses: Int
    var keys: Int
    var seed: UInt64
    var shards: Int
    var weight: Int
    var rows: [SimulationRow]
}

func percent(_ fraction: Double, digits: Int = 1) -> String {
    String(format: "%.\(digits)f%%", fraction * 100)
}

/// A difference of two ratios in percentage points, signed.
func points(_ difference: Double) -> String {
    String(format: "%+.1f", difference * 100)
}

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return left ? fill + text : text + fill
}
