import AWSAuth
import Foundation
import NIOCore
import Testing

@testable import LoadGenerator

@Suite struct ReportTests {
    private func report() -> Report {
        var configuration = BenchConfiguration(
            targets: [
                BenchTarget(name: "direct", host: "127.0.0.1", port: 8001),
                BenchTarget(name: "proxy", host: "127.0.0.1", port: 8000),
            ],
            workloads: [.get],
            dataset: Dataset(table: "bench", items: 100, itemBytes: 100, partitionSize: 10),
            credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"), region: "us-east-1")
        configuration.duration = .seconds(1)
        var direct = Tally()
        var proxy = Tally()
        for index in 0..<100 {
            direct.record(nanoseconds: 10_000_000, status: 200, verdict: .none, errorType: nil)
            proxy.record(nanoseconds: 100_000, status: 200, verdict: index < 90 ? .hit : .miss, errorType: nil)
        }
        proxy.record(nanoseconds: 100_000, status: 400, verdict: .none, errorType: "ValidationException")
        direct.elapsedNanoseconds = 1_000_000_000
        proxy.elapsedNanoseconds = 10_000_000
        return Report(
            configuration: configuration,
            results: [
                BenchResult(workload: .get, target: configuration.targets[0], tally: direct),
                BenchResult(workload: .get, target: configuration.targets[1], tally: proxy),
            ],
            startedAt: Date(timeIntervalSince1970: 0))
    }

    @Test func textHasEveryTargetAndTheRatios() {
        let text = report().text()
        #expect(text.contains("direct") && text.contains("proxy"))
        #expect(text.contains("90.0%"))
        #expect(text.contains("errors at proxy: ValidationException 1"))
        #expect(text.contains("proxy/direct: req/s ×101.0, p50 ×0.01"))
    }

    @Test func jsonCarriesResultsRatiosAndTheCurve() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: report().json()) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.map { $0["target"] as? String } == ["direct", "proxy"])
        #expect((results[1]["cache"] as? [String: Int])?["hit"] == 90)
        #expect((results[1]["errors"] as? [String: Int]) == ["ValidationException": 1])
        let p50 = try #require((results[0]["latencyMicroseconds"] as? [String: Any])?["p50"] as? Int)
        #expect(abs(p50 - 10_000) <= 10)
        #expect(((results[1]["percentileCurve"] as? [[Double]])?.count ?? 0) > 1)
        let ratios = try #require(object["ratios"] as? [[String: Any]])
        #expect(ratios.first?["baseline"] as? String == "direct")
        #expect((ratios.first?["requestsPerSecond"] as? Double) == 101)
    }

    @Test func htmlIsSelfContainedWithOneCurvePerTarget() {
        let html = report().html()
        #expect(html.components(separatedBy: "<polyline").count == 3)
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
        #expect(html.contains("proxy/direct"))
    }
}
