import Foundation
import NIOCore
import Testing

@testable import LoadGenerator

@Suite struct TallyTests {
    /// 1 ms, 2 ms, ..., 1000 ms once each: every percentile is known exactly, to HdrHistogram's 3 digits.
    private func uniformMilliseconds() -> Tally {
        var tally = Tally()
        for millis in 1...1000 {
            tally.record(nanoseconds: UInt64(millis) * 1_000_000, status: 200, verdict: .hit, errorType: nil)
        }
        return tally
    }

    @Test func percentilesOfAKnownDistribution() {
        let tally = uniformMilliseconds()
        func expectNear(_ value: UInt64, _ expected: UInt64) {
            // Three significant digits: within 0.1% of the true value.
            #expect(abs(Double(value) - Double(expected)) <= Double(expected) * 0.001, "\(value) vs \(expected)")
        }
        expectNear(tally.latency(atPercentile: 50), 500_000)
        expectNear(tally.latency(atPercentile: 90), 900_000)
        expectNear(tally.latency(atPercentile: 99), 990_000)
        expectNear(tally.latency(atPercentile: 99.9), 999_000)
        expectNear(tally.maxLatency, 1_000_000)
        #expect(tally.responses == 1000)
        #expect(tally.latencies.totalCount == 1000)
    }

    @Test func mergingEqualsRecordingEverythingInOne() {
        var odd = Tally()
        var even = Tally()
        for millis in 1...1000 {
            let verdict: CacheVerdict = millis % 4 == 0 ? .miss : .hit
            if millis % 2 == 0 {
                even.record(nanoseconds: UInt64(millis) * 1_000_000, status: 200, verdict: verdict, errorType: nil)
            } else {
                odd.record(nanoseconds: UInt64(millis) * 1_000_000, status: 200, verdict: verdict, errorType: nil)
            }
        }
        odd.elapsedNanoseconds = 1_000_000_000
        even.elapsedNanoseconds = 1_000_000_000
        var merged = odd
        merged.merge(even)
        let whole = uniformMilliseconds()
        for percentile in [50.0, 90, 99, 99.9, 100] {
            #expect(merged.latency(atPercentile: percentile) == whole.latency(atPercentile: percentile))
        }
        #expect(merged.responses == 1000)
        #expect(merged.count(.hit) == 750 && merged.count(.miss) == 250)
        #expect(merged.hitRatio == 0.75)
        // Two phases of one second each: 1000 answers in 2 s of measured time.
        #expect(merged.throughput == 500)
    }

    @Test func errorsAreCountedByTypeAndStillTimed() {
        var tally = Tally()
        tally.record(nanoseconds: 2_000_000, status: 400, verdict: .none, errorType: "ValidationException")
        tally.record(nanoseconds: 2_000_000, status: 400, verdict: .none, errorType: "ValidationException")
        tally.record(nanoseconds: 3_000_000, status: 502, verdict: .none, errorType: nil)
        tally.recordFailure("Timeout")
        #expect(tally.errors == ["ValidationException": 2, "HTTP 502": 1, "Timeout": 1])
        #expect(tally.errorCount == 4)
        // Error answers are answers (as wrk counts them); a request without an answer is not.
        #expect(tally.responses == 3)
        #expect(tally.hitRatio == nil)
    }

    @Test func sub_microsecondAndHugeValuesAreClampedNotLost() {
        var tally = Tally()
        tally.record(nanoseconds: 10, status: 200, verdict: .hit, errorType: nil)
        tally.record(nanoseconds: UInt64.max / 2, status: 200, verdict: .hit, errorType: nil)
        #expect(tally.latencies.totalCount == 2)
        #expect(tally.latencies.min == 1)
        #expect(tally.maxLatency >= Tally.highestMicroseconds)
    }

    @Test func percentileCurveRisesToTheMaximum() throws {
        let curve = uniformMilliseconds().percentileCurve
        #expect(curve.count > 20)
        #expect(zip(curve, curve.dropFirst()).allSatisfy { $0.micros <= $1.micros && $0.percentile <= $1.percentile })
        let last = try #require(curve.last)
        #expect(last.percentile == 100)
        #expect(abs(Double(last.micros) - 1_000_000) <= 1000)
    }

    @Test func ratiosAreTakenOverTheFirstTarget() {
        var fast = Tally()
        var slow = Tally()
        for _ in 0..<100 {
            fast.record(nanoseconds: 100_000, status: 200, verdict: .hit, errorType: nil)
            slow.record(nanoseconds: 10_000_000, status: 200, verdict: .none, errorType: nil)
        }
        fast.elapsedNanoseconds = 10_000_000
        slow.elapsedNanoseconds = 1_000_000_000
        let ratio = Ratio(fast, over: slow)
        #expect(ratio.throughput == 100)
        // HdrHistogram reports the top of each value's bucket, so the ratio is 0.01 to three digits.
        #expect(ratio.latency.allSatisfy { abs(($0 ?? 0) - 0.01) < 0.000_1 })
    }
}
