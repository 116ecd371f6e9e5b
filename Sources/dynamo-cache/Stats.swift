import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Upstream

/// `dynamo-cache stats`: a compact live view of a running proxy, from its admin `/stats`, like `top`.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running proxy's cache hit ratios, request rates, latency, memory and errors."
    )

    @Option(help: "The proxy's admin address, http://HOST:PORT. Env DYNAMO_CACHE_ADMIN. Default http://127.0.0.1:9090.")
    var admin: String?

    @Option(help: "PEM file of a private CA to trust when the admin address is https://.")
    var caFile: String?

    @Flag(help: "Refresh every --interval until interrupted (Ctrl-C).")
    var watch = false

    @Option(help: "Seconds between refreshes with --watch.")
    var interval: Double = 2

    @Flag(help: "Print the /stats JSON document as it is, once.")
    var json = false

    func run() async throws {
        let url = admin ?? ProcessInfo.processInfo.environment["DYNAMO_CACHE_ADMIN"] ?? "http://127.0.0.1:9090"
        let endpoint: UpstreamEndpoint
        var configuration: UpstreamConfiguration
        do {
            endpoint = try UpstreamEndpoint(parsing: url)
            configuration = try UpstreamConfiguration(endpoint: endpoint, caFile: caFile)
        } catch {
            throw ValidationError("--admin: \(error)")
        }
        configuration.connectTimeout = .seconds(2)
        configuration.responseTimeout = .seconds(5)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = UpstreamClient(
            configuration: configuration,
            group: group,
            logger: Logger(label: "dynamo-cache.stats")
        )
        do {
            try await show(url: url, endpoint: endpoint, client: client, group: group)
        } catch {
            await client.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        await client.shutdown()
        try? await group.shutdownGracefully()
    }

    private func show(
        url: String,
        endpoint: UpstreamEndpoint,
        client: UpstreamClient,
        group: MultiThreadedEventLoopGroup
    ) async throws {
        repeat {
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/stats")
            head.headers.add(name: "host", value: endpoint.authority)
            let text: String
            do {
                let response = try await client.execute(
                    UpstreamRequest(head: head, body: ByteBuffer()),
                    on: group.next()
                ).get()
                text = String(buffer: response.body)
            } catch {
                throw StatsError(description: "cannot read \(url)/stats: \(error)")
            }
            if json {
                print(text, terminator: "")
                return
            }
            let view = StatsView.render(json: Data(text.utf8), source: url)
            if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }  // home + clear, like top
            print(view)
            fflush(nil)  // a pipe or a terminal: each view appears at once
            if watch { try await Task.sleep(for: .milliseconds(Int(interval * 1_000))) }
        } while watch
    }
}

/// A failure to reach the proxy: said plainly, without the usage text a `ValidationError` adds.
struct StatsError: Error, CustomStringConvertible {
    let description: String
}

/// Turns a `/stats` document into the terminal view. Separate from I/O so tests can feed it documents.
enum StatsView {
    static func render(json: Data, source: String) -> String {
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            return "dynamo-cache stats: \(source)/stats did not answer a JSON document"
        }
        func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
        func object(_ value: Any?) -> [String: Any] { value as? [String: Any] ?? [:] }
        func percent(_ value: Any?) -> String { number(value).map { String(format: "%5.1f%%", $0 * 100) } ?? "    –" }
        func count(_ value: Any?) -> String { number(value).map { String(Int($0)) } ?? "–" }
        func bytes(_ value: Any?) -> String {
            guard var amount = number(value) else { return "–" }
            for unit in ["B", "KiB", "MiB", "GiB"] {
                if amount < 1024 || unit == "GiB" {
                    return String(format: unit == "B" ? "%.0f %@" : "%.1f %@", amount, unit)
                }
                amount /= 1024
            }
            return "–"
        }
        func milliseconds(_ value: Any?) -> String { number(value).map { String(format: "%.2f ms", $0) } ?? "–" }

        let requests = object(root["requests"])
        let caches = object(root["caches"])
        let history = root["history"] as? [[String: Any]] ?? []
        let lastSecond = history.last ?? [:]
        let latency = object(root["latency_ms_1m"])
        let memory = object(root["memory"])
        var lines: [String] = []
        let uptime = Int(number(root["uptime_seconds"]) ?? 0)
        lines.append(
            "DynamoCache  \(source)  up \(uptime / 3600)h\(uptime / 60 % 60)m\(uptime % 60)s  connections \(count(root["connections"]))"
        )
        lines.append(
            "requests/s \(count(lastSecond["requests"]))   total \(count(requests["total"]))   errors \(count(requests["errors"]))   faults \(count(requests["faults"]))   throttled \(count(requests["throttled"]))"
        )
        lines.append("")
        lines.append("cache    hit 1m   hit all      hits    misses   entries        memory   util  evicted")
        for name in ["item", "query", "scan"] {
            let cache = object(caches[name])
            let padded = name.padding(toLength: 6, withPad: " ", startingAt: 0)
            let hits = count(cache["hits"]).leftPadded(9)
            let misses = count(cache["misses"]).leftPadded(9)
            let entries = (cache["entries"] == nil ? "" : count(cache["entries"])).leftPadded(9)
            let used = (cache["bytes"] == nil ? "" : bytes(cache["bytes"])).leftPadded(13)
            let util = (cache["memory_utilization"] == nil ? "" : percent(cache["memory_utilization"])).leftPadded(6)
            let evicted = (cache["evicted_bytes"] == nil ? "" : bytes(cache["evicted_bytes"])).leftPadded(8)
            lines.append(
                "\(padded)  \(percent(cache["hit_ratio_1m"]))   \(percent(cache["hit_ratio"])) \(hits) \(misses) \(entries) \(used) \(util) \(evicted)"
            )
        }
        lines.append("")
        let outcomes = object(requests["by_outcome"])
        lines.append(
            "outcomes  "
                + ["hit", "miss", "partial", "bypass", "write", "rejected"].map { "\($0) \(count(outcomes[$0]))" }
                .joined(separator: "  ")
        )
        lines.append(
            "latency 1m  p50 \(milliseconds(latency["p50"]))  p90 \(milliseconds(latency["p90"]))  p99 \(milliseconds(latency["p99"]))  max \(milliseconds(latency["max"]))"
        )
        lines.append(
            "memory  \(memory["allocator"] as? String ?? "?")  allocated \(bytes(memory["allocated_bytes"]))  resident \(bytes(memory["resident_bytes"]))"
        )
        let streams = root["streams"] as? [[String: Any]] ?? []
        if !streams.isEmpty {
            lines.append("")
            lines.append(
                "stream table            state         serving   behind      lag   records     own  flushes  errors")
            for table in streams {
                func seconds(_ value: Any?) -> String { number(value).map { String(format: "%.1fs", $0) } ?? "–" }
                func sum(_ value: Any?) -> String {
                    count(object(value).values.reduce(0.0) { $0 + (number($1) ?? 0) })
                }
                let name = (table["table"] as? String ?? "?").padding(toLength: 20, withPad: " ", startingAt: 0)
                let state = (table["state"] as? String ?? "?").padding(toLength: 12, withPad: " ", startingAt: 0)
                let serving = ((table["serving"] as? Bool) == true ? "yes" : "no").leftPadded(7)
                lines.append(
                    "  \(name) \(state) \(serving) \(seconds(table["since_current_seconds"]).leftPadded(8)) \(seconds(table["lag_seconds"]).leftPadded(8)) \(count(table["records_applied"]).leftPadded(9)) \(count(table["own_records"]).leftPadded(7)) \(sum(table["flushes"]).leftPadded(8)) \(sum(table["errors"]).leftPadded(7))"
                )
                if let error = table["last_error"] as? String { lines.append("    last error: \(error)") }
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
