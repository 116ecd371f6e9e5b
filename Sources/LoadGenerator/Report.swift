import Foundation
import NIOCore

/// The three outputs of a run: a table for the terminal, JSON for machines, and a self-contained HTML page with
/// a latency-by-percentile plot. Every figure of a target after the first is also given as a ratio to the first.
package struct Report: Sendable {
    package let configuration: BenchConfiguration
    package let results: [BenchResult]
    package let startedAt: Date

    package init(configuration: BenchConfiguration, results: [BenchResult], startedAt: Date) {
        self.configuration = configuration
        self.results = results
        self.startedAt = startedAt
    }

    /// Percentiles reported everywhere, with the labels used for them.
    static let percentiles: [(label: String, value: Double)] = [
        ("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9),
    ]

    private func results(for workload: Workload) -> [BenchResult] { results.filter { $0.workload == workload } }

    private var pacingDescription: String {
        switch configuration.pacing {
        case .closedLoop: "closed loop"
        case .openLoop(let rate): "open loop at \(Report.rate(rate)) req/s per target"
        }
    }

    private func heading(_ workload: Workload) -> String {
        let options = configuration.options
        let distribution =
            options.distribution == .zipf
            ? "zipf θ=\(Report.decimal(options.zipfTheta, 2))" : "uniform"
        let keys = workload == .getOnce ? "each key once" : distribution
        var detail = "\(keys), \(configuration.connections) connections, \(pacingDescription)"
        if workload == .batchGet { detail += ", \(options.batchSize) keys per batch" }
        if workload == .mix95 || workload == .mix50 { detail += ", writes by \(options.writeKind.rawValue)" }
        let data = configuration.dataset
        return "\(workload.rawValue) (\(detail)); \(data.items) items of \(data.itemBytes) B, "
            + "\(data.partitionSize) per partition"
    }

    // MARK: Text

    /// The terminal table: one block per workload, latencies in milliseconds.
    package func text() -> String {
        var out = ""
        for workload in configuration.workloads {
            let rows = results(for: workload)
            out += heading(workload) + "\n"
            var table: [[String]] = [
                ["target", "answers", "req/s"] + Report.percentiles.map { "\($0.label) ms" }
                    + ["max ms", "errors", "hit ratio"]
            ]
            for row in rows {
                let m = row.tally
                table.append(
                    [row.target.name, String(m.responses), Report.rate(m.throughput)]
                        + Report.percentiles.map { Report.millis(m.latency(atPercentile: $0.value)) }
                        + [Report.millis(m.maxLatency), String(m.errorCount), m.hitRatio.map(Report.percent) ?? "-"])
            }
            out += Report.align(table)
            for row in rows where !row.tally.errors.isEmpty {
                let listed = row.tally.errors.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }
                out += "  errors at \(row.target.name): \(listed.joined(separator: ", "))\n"
            }
            for row in rows {
                for warning in row.warnings { out += "  WARNING, \(row.target.name): \(warning)\n" }
            }
            if let base = rows.first, rows.count > 1 {
                for row in rows.dropFirst() { out += "  \(Report.ratioLine(row, over: base))\n" }
            }
            out += "\n"
        }
        return out
    }

    static func align(_ rows: [[String]]) -> String {
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// `proxy/direct: req/s ×17.9, p50 ×0.0119, ...`
    static func ratioLine(_ row: BenchResult, over base: BenchResult) -> String {
        let ratio = Ratio(row.tally, over: base.tally)
        let latencies = zip(Report.percentiles, ratio.latency).map { "\($0.label) ×\(Report.factor($1))" }
        return "\(row.target.name)/\(base.target.name): req/s ×\(Report.factor(ratio.throughput)), "
            + latencies.joined(separator: ", ")
    }

    // MARK: JSON

    package func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(JSONReport(self))
    }

    // MARK: HTML

    /// A page with no external resources: one section per workload with its table and an SVG plot of latency
    /// (log scale) against percentile (log scale of 1 / (1 - p), HdrHistogram's customary axis).
    package func html() -> String {
        var sections = ""
        for workload in configuration.workloads {
            let rows = results(for: workload)
            var table = "<table><tr><th>target</th><th>answers</th><th>req/s</th>"
            table += Report.percentiles.map { "<th>\($0.label) ms</th>" }.joined()
            table += "<th>max ms</th><th>errors</th><th>hit ratio</th></tr>\n"
            for (index, row) in rows.enumerated() {
                let m = row.tally
                table += "<tr><td><span class=\"swatch\" style=\"background:\(Report.color(index))\"></span>"
                table += "\(Report.escape(row.target.name))</td><td>\(m.responses)</td>"
                table += "<td>\(Report.rate(m.throughput))</td>"
                table += Report.percentiles.map { "<td>\(Report.millis(m.latency(atPercentile: $0.value)))</td>" }
                    .joined()
                table += "<td>\(Report.millis(m.maxLatency))</td><td>\(m.errorCount)</td>"
                table += "<td>\(m.hitRatio.map(Report.percent) ?? "-")</td></tr>\n"
            }
            table += "</table>\n"
            for row in rows {
                for warning in row.warnings {
                    table += "<p class=\"warning\">WARNING, \(Report.escape(row.target.name)): "
                    table += "\(Report.escape(warning))</p>\n"
                }
            }
            if let base = rows.first, rows.count > 1 {
                table += "<p class=\"ratios\">"
                for row in rows.dropFirst() { table += "\(Report.escape(Report.ratioLine(row, over: base)))<br>" }
                table += "</p>\n"
            }
            sections += "<section><h2>\(Report.escape(heading(workload)))</h2>\n\(table)\(plot(rows))</section>\n"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>dynamo-cache bench</title>
            <style>
            body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
            .warning { color: #a40000; font-weight: 600; }
            table { border-collapse: collapse; margin: 0.5em 0; }
            th, td { padding: 0.2em 0.8em; text-align: right; border-bottom: 1px solid #ddd; }
            th:first-child, td:first-child { text-align: left; }
            .swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; }
            .ratios { color: #555; }
            svg text { font: 11px system-ui, sans-serif; fill: #444; }
            </style></head><body>
            <h1>dynamo-cache bench</h1>
            <p>Started \(ISO8601DateFormatter().string(from: startedAt)); \(configuration.rounds) rounds per \
            target, targets in alternation\(configuration.duration.map { ", \(Report.seconds($0)) s measured per target" } ?? "")\
            \(configuration.requests.map { ", at most \($0) requests per target" } ?? "").</p>
            \(sections)</body></html>

            """
    }

    /// The latency-by-percentile plot of one workload's targets.
    func plot(_ rows: [BenchResult]) -> String {
        let width = 760.0
        let height = 380.0
        let left = 70.0
        let right = 45.0
        let top = 20.0
        let bottom = 50.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        // x: log10(1 / (1 - p)), 0 at p50 is 0.3; up to 99.999% (5).
        let xMax = 5.0
        func x(_ percentile: Double) -> Double {
            let clamped = min(percentile, 99.999)
            return left + min(xMax, log10(100 / (100 - clamped))) / xMax * plotWidth
        }
        let values = rows.flatMap { $0.tally.percentileCurve.map(\.micros) }.filter { $0 > 0 }
        let low = floor(log10(Double(values.min() ?? 10)))
        let high = max(low + 1, ceil(log10(Double(values.max() ?? 1000))))
        func y(_ micros: UInt64) -> Double {
            let position = (log10(Double(max(1, micros))) - low) / (high - low)
            return top + plotHeight * (1 - position)
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
        svg += "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" "
        svg += "stroke=\"#bbb\"/>\n"
        for (label, percentile) in [
            ("0%", 0.0), ("90%", 90), ("99%", 99), ("99.9%", 99.9), ("99.99%", 99.99),
            ("99.999%", 99.999),
        ] {
            let position = Report.decimal(x(percentile), 1)
            svg += "<line x1=\"\(position)\" y1=\"\(top)\" x2=\"\(position)\" y2=\"\(top + plotHeight)\" "
            svg += "stroke=\"#eee\"/><text x=\"\(position)\" y=\"\(top + plotHeight + 16)\" "
            svg += "text-anchor=\"middle\">\(label)</text>\n"
        }
        for exponent in Int(low)...Int(high) {
            let micros = pow(10, Double(exponent))
            let position = Report.decimal(y(UInt64(micros)), 1)
            let label = "\(Report.decimal(micros / 1000, max(0, 3 - exponent))) ms"
            svg += "<line x1=\"\(left)\" y1=\"\(position)\" x2=\"\(left + plotWidth)\" y2=\"\(position)\" "
            svg += "stroke=\"#eee\"/><text x=\"\(left - 6)\" y=\"\(position)\" text-anchor=\"end\" "
            svg += "dominant-baseline=\"middle\">\(label)</text>\n"
        }
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">percentile</text>\n"
        for (index, row) in rows.enumerated() {
            let points = row.tally.percentileCurve.map {
                "\(Report.decimal(x($0.percentile), 1)),\(Report.decimal(y($0.micros), 1))"
            }
            guard !points.isEmpty else { continue }
            svg += "<polyline fill=\"none\" stroke=\"\(Report.color(index))\" stroke-width=\"2\" "
            svg += "points=\"\(points.joined(separator: " "))\"><title>\(Report.escape(row.target.name))</title>"
            svg += "</polyline>\n"
            let legendY = top + 14 + Double(index) * 16
            svg += "<rect x=\"\(left + 10)\" y=\"\(legendY - 9)\" width=\"10\" height=\"10\" "
            svg += "fill=\"\(Report.color(index))\"/><text x=\"\(left + 26)\" y=\"\(legendY)\">"
            svg += "\(Report.escape(row.target.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    // MARK: Formatting

    static func color(_ index: Int) -> String {
        ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"][index % 6]
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    package static func decimal(_ value: Double, _ places: Int) -> String {
        String(format: "%.\(places)f", value)
    }

    package static func millis(_ micros: UInt64) -> String { decimal(Double(micros) / 1000, 3) }

    package static func rate(_ perSecond: Double) -> String { decimal(perSecond, perSecond >= 100 ? 0 : 1) }

    static func percent(_ ratio: Double) -> String { decimal(ratio * 100, 1) + "%" }

    static func factor(_ ratio: Double?) -> String {
        guard let ratio, ratio.isFinite else { return "-" }
        return decimal(ratio, ratio >= 10 ? 1 : (ratio >= 0.1 ? 2 : 4))
    }

    static func seconds(_ amount: TimeAmount) -> String { decimal(Double(amount.nanoseconds) / 1e9, 1) }
}

/// One target's figures over a baseline's: throughput and each reported percentile.
package struct Ratio: Sendable {
    package var throughput: Double?
    package var latency: [Double?]

    package init(_ tally: Tally, over baseline: Tally) {
        func divide(_ a: Double, _ b: Double) -> Double? { b > 0 ? a / b : nil }
        throughput = divide(tally.throughput, baseline.throughput)
        latency = Report.percentiles.map {
            divide(Double(tally.latency(atPercentile: $0.value)), Double(baseline.latency(atPercentile: $0.value)))
        }
    }
}

/// The JSON document's shape.
private struct JSONReport: Encodable {
    struct Configuration: Encodable {
        var targets: [[String: String]]
        var workloads: [String]
        var table: String
        var items: Int
        var itemBytes: Int
        var partitionSize: Int
        var distribution: String
        var zipfTheta: Double
        var batchSize: Int
        var writeKind: String
        var connections: Int
        var pacing: String
        var ratePerSecond: Double?
        var durationSeconds: Double?
        var requests: Int?
        var warmupSeconds: Double
        var rounds: Int
        var region: String
    }

    struct Latency: Encodable {
        var p50: UInt64
        var p90: UInt64
        var p99: UInt64
        var p99_9: UInt64
        var max: UInt64
        var mean: Double
    }

    struct Result: Encodable {
        var workload: String
        var target: String
        var url: String
        var answers: Int
        var seconds: Double
        var requestsPerSecond: Double
        var latencyMicroseconds: Latency
        var errors: [String: Int]
        var cache: [String: Int]
        var hitRatio: Double?
        var warnings: [String]
        /// (percentile, microseconds) points of the latency-by-percentile curve.
        var percentileCurve: [[Double]]
    }

    struct RatioEntry: Encodable {
        var workload: String
        var target: String
        var baseline: String
        var requestsPerSecond: Double?
        var p50: Double?
        var p90: Double?
        var p99: Double?
        var p99_9: Double?
    }

    var tool = "dynamo-cache bench"
    var startedAt: Date
    var configuration: Configuration
    var results: [Result]
    var ratios: [RatioEntry]

    init(_ report: Report) {
        let config = report.configuration
        startedAt = report.startedAt
        var rate: Double?
        if case .openLoop(let perSecond) = config.pacing { rate = perSecond }
        configuration = Configuration(
            targets: config.targets.map { ["name": $0.name, "url": $0.url] },
            workloads: config.workloads.map(\.rawValue), table: config.dataset.table, items: config.dataset.items,
            itemBytes: config.dataset.itemBytes, partitionSize: config.dataset.partitionSize,
            distribution: config.options.distribution.rawValue, zipfTheta: config.options.zipfTheta,
            batchSize: config.options.batchSize, writeKind: config.options.writeKind.rawValue,
            connections: config.connections, pacing: rate == nil ? "closed" : "open", ratePerSecond: rate,
            durationSeconds: config.duration.map { Double($0.nanoseconds) / 1e9 }, requests: config.requests,
            warmupSeconds: Double(config.warmup.nanoseconds) / 1e9, rounds: config.rounds, region: config.region)
        results = report.results.map { result in
            let m = result.tally
            return Result(
                workload: result.workload.rawValue, target: result.target.name, url: result.target.url,
                answers: m.responses, seconds: Double(m.elapsedNanoseconds) / 1e9, requestsPerSecond: m.throughput,
                latencyMicroseconds: Latency(
                    p50: m.latency(atPercentile: 50), p90: m.latency(atPercentile: 90),
                    p99: m.latency(atPercentile: 99), p99_9: m.latency(atPercentile: 99.9), max: m.maxLatency,
                    mean: m.latencies.totalCount == 0 ? 0 : m.latencies.mean),
                errors: m.errors,
                cache: Dictionary(
                    uniqueKeysWithValues: CacheVerdict.allCases.map { ($0.rawValue, m.count($0)) }),
                hitRatio: m.hitRatio, warnings: result.warnings,
                percentileCurve: m.percentileCurve.map { [$0.percentile, Double($0.micros)] })
        }
        var ratios: [RatioEntry] = []
        for workload in config.workloads {
            let rows = report.results.filter { $0.workload == workload }
            guard let base = rows.first else { continue }
            for row in rows.dropFirst() {
                let ratio = Ratio(row.tally, over: base.tally)
                ratios.append(
                    RatioEntry(
                        workload: workload.rawValue, target: row.target.name, baseline: base.target.name,
                        requestsPerSecond: ratio.throughput, p50: ratio.latency[0], p90: ratio.latency[1],
                        p99: ratio.latency[2], p99_9: ratio.latency[3]))
            }
        }
        self.ratios = ratios
    }
}
