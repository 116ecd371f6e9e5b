import Foundation

// Public, unlike the rest of this module, because the Benchmarks package (the hit-ratio simulator and the store
// benchmarks) draws its traces from the same generators.

/// SplitMix64 (Steele et al., 2014): tiny, fast, and well mixed, so a seed fully determines every trace on every
/// platform (the standard library's generator is seeded randomly and cannot be fixed).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The finalizer alone: a good bijective hash of a 64-bit integer.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1) from the top 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}

/// Draws ranks 0..<n with P(rank r) proportional to 1 / (r + 1)^theta, by binary search over the cumulative
/// weights: exact for any theta (including theta >= 1, where the rejection-free approximations of Gray et al.
/// break down), and a million draws over 100k keys take well under a second.
public struct ZipfGenerator: Sendable {
    public let n: Int
    public let theta: Double
    private let cumulative: [Double]

    public init(n: Int, theta: Double) {
        precondition(n > 0 && theta >= 0)
        self.n = n
        self.theta = theta
        var total = 0.0
        cumulative = (1...n).map { rank in
            total += 1 / pow(Double(rank), theta)
            return total
        }
    }

    /// The exact probability of `rank` (0-based).
    public func probability(ofRank rank: Int) -> Double {
        (1 / pow(Double(rank + 1), theta)) / cumulative[n - 1]
    }

    public func next(using generator: inout SplitMix64) -> Int {
        let target = generator.nextUnit() * cumulative[n - 1]
        var low = 0
        var high = n - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] <= target { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
