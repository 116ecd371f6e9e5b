import Proxy
import Testing

/// The histogram behind `/stats` percentiles and the dashboard's latency chart.
@Suite struct LatencyHistogramTests {
    @Test func percentilesLandInTheRightBucket() {
        let histogram = LatencyHistogram()
        for _ in 0..<90 { histogram.record(nanoseconds: 100_000) }  // 0.1 ms
        for _ in 0..<9 { histogram.record(nanoseconds: 2_000_000) }  // 2 ms
        histogram.record(nanoseconds: 50_000_000)  // 50 ms
        let counts = histogram.counts()
        #expect(counts.reduce(0, +) == 100)
        // Four buckets per power of two: a percentile is within 25% above the true value, never below it.
        let p50 = try! #require(LatencyHistogram.percentile(0.5, of: counts))
        let p99 = try! #require(LatencyHistogram.percentile(0.99, of: counts))
        let max = try! #require(LatencyHistogram.percentile(1, of: counts))
        #expect(p50 >= 0.1 && p50 <= 0.125)
        #expect(p99 >= 2 && p99 <= 2.5)
        #expect(max >= 50 && max <= 62.5)
    }

    @Test func emptyAndExtremeValues() {
        #expect(LatencyHistogram.percentile(0.5, of: Array(repeating: 0, count: LatencyHistogram.bucketCount)) == nil)
        let histogram = LatencyHistogram()
        histogram.record(nanoseconds: 0)  // below 1 µs: the first bucket
        histogram.record(nanoseconds: .max)  // beyond the range: the last bucket, not a crash
        let counts = histogram.counts()
        #expect(counts.first == 1 && counts.last == 1)
    }

    @Test func bucketsAreOrderedByValue() {
        var previous = -1.0
        for nanoseconds in stride(from: UInt64(1_000), to: 10_000_000_000, by: 997_331) {
            let histogram = LatencyHistogram()
            histogram.record(nanoseconds: nanoseconds)
            let bound = LatencyHistogram.percentile(1, of: histogram.counts())!
            #expect(bound >= Double(nanoseconds) / 1_000_000, "upper bound below the value for \(nanoseconds) ns")
            #expect(bound >= previous)
            previous = bound
        }
    }
}

/// The per-(operation, outcome) buckets behind `/metrics`' duration histogram.
@Suite struct DurationHistogramsTests {
    @Test func aValueOnABoundLandsInThatBucketAndOnlyPairsThatOccurredHaveCounts() {
        let durations = DurationHistograms()
        let statistics = ProxyStatistics()
        statistics.record(operation: .getItem, outcome: .hit, status: .ok, errorCode: nil, nanoseconds: 50_000)
        statistics.record(operation: .getItem, outcome: .hit, status: .ok, errorCode: nil, nanoseconds: 50_001)
        statistics.record(operation: .getItem, outcome: .hit, status: .ok, errorCode: nil, nanoseconds: 20_000_000_000)
        let (counts, sum) = try! #require(statistics.durations.snapshot(operation: .getItem, outcome: .hit))
        #expect(counts.count == DurationHistograms.upperBoundsNanoseconds.count + 1)
        #expect(counts[0] == 1 && counts[1] == 1 && counts.last == 1, "\(counts)")
        #expect(counts.reduce(0, +) == 3)
        #expect(sum == 50_000 + 50_001 + 20_000_000_000)
        #expect(statistics.durations.snapshot(operation: .putItem, outcome: .hit) == nil)
        #expect(durations.snapshot(operation: .getItem, outcome: .hit) == nil)
    }
}
