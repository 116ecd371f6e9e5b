import Histogram

/// What one target did during a phase (or a whole run, once phases are merged): latencies in microseconds in an
/// HdrHistogram (3 significant digits), response counts, errors by type and the proxy's cache verdicts.
package struct Tally: Sendable {
    /// An hour: no latency worth reporting is longer, and larger values are clamped so that none is lost.
    package static let highestMicroseconds: UInt64 = 3_600_000_000

    package private(set) var latencies = Histogram<UInt64>(
        highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    /// Responses received, errors included (an error answer is still an answer with a latency).
    package private(set) var responses = 0
    /// Error answers by DynamoDB error type (`ThrottlingException`, `HTTP 502` when the body names none) and
    /// requests that got no answer (`ConnectionFailed`, `ConnectionClosed`, `Timeout`, `MalformedResponse`).
    package private(set) var errors: [String: Int] = [:]
    /// Responses by `x-dynamo-cache` verdict, indexed like `CacheVerdict.allCases`.
    package private(set) var verdicts = [Int](repeating: 0, count: CacheVerdict.allCases.count)
    /// Wall time the phases took, summed over merged phases.
    package var elapsedNanoseconds: UInt64 = 0

    package init() {}

    /// Records one answer that took `nanoseconds` (from its send, or from its intended send in open loop).
    package mutating func record(nanoseconds: UInt64, status: Int, verdict: CacheVerdict, errorType: String?) {
        let micros = min(Self.highestMicroseconds, max(1, (nanoseconds + 500) / 1000))
        _ = latencies.record(micros)
        responses += 1
        verdicts[Self.index(of: verdict)] += 1
        if status >= 300 { errors[errorType ?? "HTTP \(status)", default: 0] += 1 }
    }

    /// Records `count` requests that got no answer.
    package mutating func recordFailure(_ kind: String, count: Int = 1) {
        guard count > 0 else { return }
        errors[kind, default: 0] += count
    }

    package mutating func merge(_ other: Tally) {
        latencies.add(other.latencies)
        responses += other.responses
        errors.merge(other.errors, uniquingKeysWith: +)
        for index in verdicts.indices { verdicts[index] += other.verdicts[index] }
        elapsedNanoseconds += other.elapsedNanoseconds
    }

    package func count(_ verdict: CacheVerdict) -> Int { verdicts[Self.index(of: verdict)] }

    package var errorCount: Int { errors.values.reduce(0, +) }

    /// Answers (error answers included, as wrk counts them) per second of wall time.
    package var throughput: Double {
        guard elapsedNanoseconds > 0 else { return 0 }
        return Double(responses) * 1e9 / Double(elapsedNanoseconds)
    }

    /// Hits over reads the proxy judged (hit + miss + partial), or nil when no response carried a verdict (the
    /// storage server itself, or a workload of writes).
    package var hitRatio: Double? {
        let judged = count(.hit) + count(.miss) + count(.partial)
        guard judged > 0 else { return nil }
        return Double(count(.hit)) / Double(judged)
    }

    package func latency(atPercentile percentile: Double) -> UInt64 {
        latencies.totalCount == 0 ? 0 : latencies.valueAtPercentile(percentile)
    }

    package var maxLatency: UInt64 { latencies.totalCount == 0 ? 0 : latencies.max }

    /// The latency-by-percentile curve (HdrHistogram's percentile iteration, 5 ticks per half distance), as
    /// (percentile, microseconds) points up to the maximum.
    package var percentileCurve: [(percentile: Double, micros: UInt64)] {
        guard latencies.totalCount > 0 else { return [] }
        var points: [(percentile: Double, micros: UInt64)] = []
        for step in latencies.percentiles(ticksPerHalfDistance: 5) {
            let value = latencies.highestEquivalentForValue(step.value)
            points.append((min(step.percentileLevelIteratedTo, 100), min(value, latencies.max)))
        }
        return points
    }

    private static func index(of verdict: CacheVerdict) -> Int {
        switch verdict {
        case .hit: 0
        case .miss: 1
        case .partial: 2
        case .bypass: 3
        case .write: 4
        case .rejected: 5
        case .none: 6
        }
    }
}
