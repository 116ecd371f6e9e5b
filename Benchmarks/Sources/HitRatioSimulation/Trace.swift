import Foundation
import LoadGenerator

/// One request of a trace: a read (served from cache or filled on a miss) or a write (write-through: the new
/// value is stored, so the key is cached afterwards).
package struct Access: Sendable, Hashable {
    /// Dense key id in `0..<keyCount`; with Zipf traces, id 0 is the most popular key.
    package var key: Int32
    package var isWrite: Bool

    package init(key: Int32, isWrite: Bool = false) {
        self.key = key
        self.isWrite = isWrite
    }

    package static func read(_ key: Int32) -> Access { Access(key: key) }
    package static func write(_ key: Int32) -> Access { Access(key: key, isWrite: true) }
}

/// A sequence of accesses over `keyCount` dense keys.
package struct Trace: Sendable {
    package var accesses: [Access]
    package var keyCount: Int

    package init(accesses: [Access], keyCount: Int) {
        precondition(accesses.allSatisfy { $0.key >= 0 && Int($0.key) < keyCount }, "key outside the key space")
        self.accesses = accesses
        self.keyCount = keyCount
    }

    /// A read-only trace from key ids (for hand-made traces in tests).
    package init(reads: [Int32]) {
        self.init(accesses: reads.map(Access.read), keyCount: Int(reads.max() ?? 0) + 1)
    }

    package var readCount: Int { accesses.count(where: { !$0.isWrite }) }
}

/// How one synthetic trace is made. Every trace is a pure function of the spec, the sizes and the seed.
package struct TraceSpec: Sendable, Hashable {
    package var name: String
    package var theta: Double
    /// Every `accesses / 10` accesses, the last `keys / 5` of the period (20k of every 100k at the default sizes)
    /// are a sequential scan over the coldest `keys / 5` keys: a periodic batch job or table scan that a pure
    /// recency policy lets flush its hot set.
    package var periodicScan: Bool
    /// Fraction of the Zipf accesses that are writes.
    package var writeFraction: Double
    /// Every `accesses / 20` accesses the popular keys move to fresh ids (`keys / 20` further on): yesterday's
    /// hot set goes cold at once, which favours recency over frequency.
    package var shifting: Bool

    package init(
        name: String, theta: Double, periodicScan: Bool = false, writeFraction: Double = 0, shifting: Bool = false
    ) {
        self.name = name
        self.theta = theta
        self.periodicScan = periodicScan
        self.writeFraction = writeFraction
        self.shifting = shifting
    }

    /// The standard set the simulator reports.
    package static let standard: [TraceSpec] = [
        TraceSpec(name: "zipf-0.60", theta: 0.6),
        TraceSpec(name: "zipf-0.80", theta: 0.8),
        TraceSpec(name: "zipf-0.99", theta: 0.99),
        TraceSpec(name: "zipf-1.20", theta: 1.2),
        TraceSpec(name: "zipf-0.99+scan", theta: 0.99, periodicScan: true),
        TraceSpec(name: "zipf-0.99-30%w", theta: 0.99, writeFraction: 0.3),
        TraceSpec(name: "zipf-0.99-shift", theta: 0.99, shifting: true),
    ]

    package func makeTrace(accesses count: Int, keys keyCount: Int, seed: UInt64) -> Trace {
        // Each spec draws from its own stream, so adding or reordering specs leaves the others unchanged.
        var hasher = SplitMix64(seed: seed)
        for byte in name.utf8 { hasher = SplitMix64(seed: hasher.next() ^ UInt64(byte)) }
        var random = SplitMix64(seed: hasher.next())
        let zipf = ZipfGenerator(n: keyCount, theta: theta)
        let period = max(count / 10, 1)
        let scanLength = periodicScan ? min(keyCount / 5, period) : 0
        let firstScanKey = keyCount - scanLength
        var accesses: [Access] = []
        accesses.reserveCapacity(count)
        for position in 0..<count {
            let offset = position % period
            if offset >= period - scanLength {
                accesses.append(.read(Int32(firstScanKey + offset - (period - scanLength))))
            } else {
                let rank = zipf.next(using: &random)
                let shift = shifting ? position / max(count / 20, 1) * max(keyCount / 20, 1) : 0
                let key = Int32((rank + shift) % keyCount)
                let isWrite = writeFraction > 0 && random.nextUnit() < writeFraction
                accesses.append(Access(key: key, isWrite: isWrite))
            }
        }
        return Trace(accesses: accesses, keyCount: keyCount)
    }
}
