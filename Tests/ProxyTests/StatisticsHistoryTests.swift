import Proxy
import Testing

@Suite struct StatisticsHistoryTests {
    @Test func keepsTheLastFiveMinutesOldestFirstInARingAllocatedAtStart() {
        let fixture = ProxyFixture()
        let history = StatisticsHistory()
        #expect(history.all().isEmpty)
        for second in 1...(StatisticsHistory.capacity + 7) {
            history.sample(from: fixture.proxy, time: Double(second), residentBytes: second)
        }
        let samples = history.all()
        #expect(samples.count == StatisticsHistory.capacity)
        #expect(samples.first?.time == 8)
        #expect(samples.last?.time == Double(StatisticsHistory.capacity + 7))
        #expect(samples.map(\.time) == samples.map(\.time).sorted())
        #expect(samples.allSatisfy { $0.latency.count == LatencyHistogram.bucketCount })
    }

    @Test func aSampleReadEarlierKeepsItsCounts() {
        let fixture = ProxyFixture()
        let history = StatisticsHistory()
        history.sample(from: fixture.proxy, time: 1, residentBytes: nil)
        let before = history.all()
        fixture.proxy.statistics.latency.record(nanoseconds: 5_000)
        for second in 2...(StatisticsHistory.capacity + 1) {
            history.sample(from: fixture.proxy, time: Double(second), residentBytes: nil)
        }
        #expect(before.first?.latency.reduce(0, +) == 0)
        #expect(history.all().last?.latency.reduce(0, +) == 1)
    }
}
