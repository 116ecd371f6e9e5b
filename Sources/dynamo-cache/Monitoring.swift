import AWSAuth
import CacheCore
import DynamoWire
import Foundation
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Prometheus
import Proxy
import Server

/// What the admin listener reports: `/stats` (JSON) and `/metrics` (Prometheus), from the proxy's counters,
/// its caches, the connection count, the allocator and the readiness probe. The executable owns it because only
/// the executable knows every part (and is the only place that bootstraps metrics).
final class Monitoring: Sendable {
    let proxy: DynamoProxy
    let history = StatisticsHistory()
    let registry: PrometheusCollectorRegistry
    let allocatorVersion: String?
    let connections: @Sendable () -> Int
    /// The proxy's own credentials (`--upstream-auth sign`); nil when it forwards clients' signatures.
    let credentials: CredentialsCache?
    let started = Date()
    private let ready = NIOLockedValueBox(false)
    private let exporter: MetricsExporter

    init(
        proxy: DynamoProxy, registry: PrometheusCollectorRegistry, allocatorVersion: String?,
        credentials: CredentialsCache? = nil, connections: @escaping @Sendable () -> Int
    ) {
        self.proxy = proxy
        self.registry = registry
        self.allocatorVersion = allocatorVersion
        self.credentials = credentials
        self.connections = connections
        exporter = MetricsExporter(signsRequests: credentials != nil)
    }

    var isUpstreamReady: Bool { ready.withLockedValue { $0 } }

    /// Why the proxy cannot serve what needs the storage server now; nil when it can.
    var notReadyReason: String? {
        if !isUpstreamReady { return "storage server unreachable" }
        if let status = credentials?.status, !status.usable {
            return "no usable AWS credentials from \(status.source): \(status.lastError ?? "not fetched yet")"
        }
        return nil
    }

    /// The readiness probe: can a TCP connection to the storage server be opened now?
    func probe(host: String, port: Int, timeout: TimeAmount, group: any EventLoopGroup) async {
        let reachable: Bool
        do {
            let channel = try await ClientBootstrap(group: group).connectTimeout(timeout).connect(
                host: host, port: port
            ).get()
            try? await channel.close()
            reachable = true
        } catch {
            reachable = false
        }
        ready.withLockedValue { $0 = reachable }
    }

    /// Called every second: one history sample.
    func sample() {
        history.sample(from: proxy, time: Date().timeIntervalSince1970, residentBytes: Jemalloc.stats()?.resident)
    }

    // MARK: /metrics

    func prometheusText() -> String {
        exporter.export(
            proxy: proxy,
            connections: connections(),
            ready: isUpstreamReady,
            allocator: allocatorVersion == nil ? nil : Jemalloc.stats(),
            credentials: credentials?.status
        )
        return registry.emitToString()
    }

    // MARK: /stats

    func statsJSON() -> String {
        let statistics = proxy.statistics
        let items = proxy.itemCacheStats()
        let queries = proxy.queryCacheStats()
        let samples = history.all()
        let last = samples.last
        let minuteAgo = samples.last { sample in last.map { $0.time - sample.time >= 60 } ?? false } ?? samples.first
        func ratio(_ hits: Int, _ misses: Int) -> String {
            hits + misses == 0 ? "null" : json(Double(hits) / Double(hits + misses))
        }
        func windowRatio(_ hits: KeyPath<StatisticsSample, Int>, _ misses: KeyPath<StatisticsSample, Int>) -> String {
            guard let last, let first = minuteAgo else { return "null" }
            return ratio(last[keyPath: hits] - first[keyPath: hits], last[keyPath: misses] - first[keyPath: misses])
        }
        func store(_ s: CacheStoreStats, hits: Int, misses: Int, window: String) -> String {
            let utilization = s.capacityBytes == 0 ? 0 : Double(s.bytes) / Double(s.capacityBytes)
            return """
                {"hits":\(hits),"misses":\(misses),"hit_ratio":\(ratio(hits, misses)),"hit_ratio_1m":\(window),\
                "entries":\(s.entries),"bytes":\(s.bytes),"capacity_bytes":\(s.capacityBytes),\
                "memory_utilization":\(json(utilization)),"evictions":\(s.evictions),"evicted_bytes":\(s.evictedBytes),\
                "expirations":\(s.expirations),"invalidations":\(s.invalidations),"discarded_fills":\(s.discardedFills),\
                "rejected_too_large":\(s.rejectedTooLarge)}
                """
        }
        let itemJSON = store(
            items, hits: items.hits, misses: items.misses, window: windowRatio(\.itemHits, \.itemMisses))
        let queryJSON = store(
            queries,
            hits: statistics.queryHits.value,
            misses: statistics.queryMisses.value,
            window: windowRatio(\.queryHits, \.queryMisses)
        )
        let scanJSON = """
            {"hits":\(statistics.scanHits.value),"misses":\(statistics.scanMisses.value),\
            "hit_ratio":\(ratio(statistics.scanHits.value, statistics.scanMisses.value)),\
            "hit_ratio_1m":\(windowRatio(\.scanHits, \.scanMisses))}
            """
        let errors = statistics.errors.value
        let faults = statistics.faults.value
        let outcomes = OutcomeLabel.allCases.map { "\"\($0.name)\":\(statistics.outcomes[$0.rawValue].value)" }
        var latency = #"{"p50":null,"p90":null,"p99":null,"max":null}"#
        if let last, let first = minuteAgo {
            let window = zip(last.latency, first.latency).map { $0 - $1 }
            latency = """
                {"p50":\(json(LatencyHistogram.percentile(0.5, of: window))),\
                "p90":\(json(LatencyHistogram.percentile(0.9, of: window))),\
                "p99":\(json(LatencyHistogram.percentile(0.99, of: window))),\
                "max":\(json(LatencyHistogram.percentile(1, of: window)))}
                """
        }
        let jemalloc = allocatorVersion == nil ? nil : Jemalloc.stats()
        var memory = #"{"allocator":"system"}"#
        var allocator = #"{"name":"system"}"#
        if let version = allocatorVersion, let stats = jemalloc {
            memory = """
                {"allocator":"jemalloc","version":\(JSONWriter.quoted(version)),"allocated_bytes":\(stats.allocated),\
                "resident_bytes":\(stats.resident)}
                """
            allocator = """
                {"name":"jemalloc","version":\(JSONWriter.quoted(version)),"allocated_bytes":\(stats.allocated),\
                "active_bytes":\(stats.active),"resident_bytes":\(stats.resident),"mapped_bytes":\(stats.mapped),\
                "retained_bytes":\(stats.retained)}
                """
        }
        var historyJSON: [String] = []
        for (previous, sample) in zip(samples, samples.dropFirst()) {
            let window = zip(sample.latency, previous.latency).map { $0 - $1 }
            historyJSON.append(
                """
                {"t":\(Int(sample.time)),"requests":\(sample.requests - previous.requests),\
                "hits":\(sample.hits - previous.hits),"misses":\(sample.misses - previous.misses),\
                "p50_ms":\(json(LatencyHistogram.percentile(0.5, of: window))),\
                "p99_ms":\(json(LatencyHistogram.percentile(0.99, of: window))),\
                "resident_bytes":\(sample.residentBytes.map(String.init) ?? "null")}
                """
            )
        }
        let total = statistics.requests.reduce(0) { $0 + $1.value }
        var credentialsJSON = "null"
        if let status = credentials?.status {
            let expiresIn = status.expiration.map { json($0 - Date().timeIntervalSince1970) } ?? "null"
            credentialsJSON = """
                {"source":\(JSONWriter.quoted(status.source)),"usable":\(status.usable),\
                "expires_in_seconds":\(expiresIn),"refreshes":\(status.refreshes),\
                "refresh_failures":\(status.failures),\
                "last_error":\(status.lastError.map(JSONWriter.quoted) ?? "null")}
                """
        }
        return """
            {"uptime_seconds":\(json(Date().timeIntervalSince(started))),"connections":\(connections()),\
            "requests":{"total":\(total),"errors":\(errors),"faults":\(faults),"failed":\(errors + faults),\
            "throttled":\(statistics.throttled.value),"by_outcome":{\(outcomes.joined(separator: ","))}},\
            "caches":{"item":\(itemJSON),"query":\(queryJSON),"scan":\(scanJSON)},\
            "latency_ms_1m":\(latency),"memory":\(memory),"history":[\(historyJSON.joined(separator: ","))],\
            "item_cache":\(itemJSON),"query_cache":\(queryJSON),"allocator":\(allocator),\
            "credentials":\(credentialsJSON)}

            """
    }

    private func json(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "null" }
        return String(format: "%.6g", value)
    }
}

/// Folds the proxy's counters into swift-metrics counters (what changed since the last scrape) and sets the
/// gauges, so that swift-prometheus exposes them. Metrics are made once; labels come from closed sets only.
final class MetricsExporter: Sendable {
    private struct Counters {
        var last: [String: Int] = [:]
        /// Made when temporary credentials are first seen: long-term keys have no expiry to report.
        var credentialsExpiry: Metrics.Gauge?
    }

    private let state = NIOLockedValueBox(Counters())
    private let requests = OperationLabel.allCases.map {
        Metrics.Counter(label: "dynamocache_requests_total", dimensions: [("operation", $0.name)])
    }
    private let hits = ["item", "query", "scan"].map {
        Metrics.Counter(label: "dynamocache_cache_hits_total", dimensions: [("cache", $0)])
    }
    private let misses = ["item", "query", "scan"].map {
        Metrics.Counter(label: "dynamocache_cache_misses_total", dimensions: [("cache", $0)])
    }
    private let errors = Metrics.Counter(label: "dynamocache_request_errors_total")
    private let faults = Metrics.Counter(label: "dynamocache_request_faults_total")
    private let failed = Metrics.Counter(label: "dynamocache_requests_failed_total")
    private let throttled = Metrics.Counter(label: "dynamocache_requests_throttled_total")
    private let upstreamErrors = UpstreamErrorKind.allCases.map {
        Metrics.Counter(label: "dynamocache_upstream_errors_total", dimensions: [("kind", $0.name)])
    }
    private let invalidations = InvalidationCause.allCases.map {
        Metrics.Counter(label: "dynamocache_invalidations_total", dimensions: [("cause", $0.name)])
    }
    private let evictedBytes = ["item", "query"].map {
        Metrics.Counter(label: "dynamocache_cache_evicted_bytes_total", dimensions: [("cache", $0)])
    }
    private let evictions = ["item", "query"].map {
        Metrics.Counter(label: "dynamocache_cache_evictions_total", dimensions: [("cache", $0)])
    }
    private let discarded = ["item", "query"].map {
        Metrics.Counter(label: "dynamocache_fills_discarded_total", dimensions: [("cache", $0)])
    }
    private let joins = ["item", "query"].map {
        Metrics.Counter(label: "dynamocache_singleflight_joins_total", dimensions: [("cache", $0)])
    }
    private let bytes = ["item", "query"].map {
        Metrics.Gauge(label: "dynamocache_cache_bytes", dimensions: [("cache", $0)])
    }
    private let capacity = ["item", "query"].map {
        Metrics.Gauge(label: "dynamocache_cache_capacity_bytes", dimensions: [("cache", $0)])
    }
    private let utilization = ["item", "query"].map {
        Metrics.Gauge(label: "dynamocache_cache_memory_utilization_ratio", dimensions: [("cache", $0)])
    }
    private let entries = ["item", "query"].map {
        Metrics.Gauge(label: "dynamocache_cache_entries", dimensions: [("cache", $0)])
    }
    private let connections = Metrics.Gauge(label: "dynamocache_client_connections")
    private let ready = Metrics.Gauge(label: "dynamocache_upstream_ready")
    private let allocated = Metrics.Gauge(label: "dynamocache_jemalloc_allocated_bytes")
    private let resident = Metrics.Gauge(label: "dynamocache_jemalloc_resident_bytes")
    /// Only with --upstream-auth sign: a proxy that forwards signatures has no credentials of its own.
    private let credentialMetrics: (refreshes: Metrics.Counter, failures: Metrics.Counter, usable: Metrics.Gauge)?

    init(signsRequests: Bool) {
        credentialMetrics =
            signsRequests
            ? (
                Metrics.Counter(label: "dynamocache_credentials_refreshes_total"),
                Metrics.Counter(label: "dynamocache_credentials_refresh_failures_total"),
                Metrics.Gauge(label: "dynamocache_credentials_usable")
            ) : nil
    }

    func export(
        proxy: DynamoProxy, connections open: Int, ready isReady: Bool, allocator: Jemalloc.Stats?,
        credentials: CredentialsCache.Status? = nil
    ) {
        let statistics = proxy.statistics
        let items = proxy.itemCacheStats()
        let queries = proxy.queryCacheStats()
        state.withLockedValue { state in
            func fold(_ counter: Metrics.Counter, _ key: String, _ value: Int) {
                let delta = value - (state.last[key] ?? 0)
                if delta > 0 { counter.increment(by: Int64(delta)) }
                state.last[key] = value
            }
            for label in OperationLabel.allCases {
                fold(requests[label.rawValue], "requests.\(label.name)", statistics.requests[label.rawValue].value)
            }
            fold(hits[0], "hits.item", items.hits)
            fold(misses[0], "misses.item", items.misses)
            fold(hits[1], "hits.query", statistics.queryHits.value)
            fold(misses[1], "misses.query", statistics.queryMisses.value)
            fold(hits[2], "hits.scan", statistics.scanHits.value)
            fold(misses[2], "misses.scan", statistics.scanMisses.value)
            fold(errors, "errors", statistics.errors.value)
            fold(faults, "faults", statistics.faults.value)
            fold(failed, "failed", statistics.errors.value + statistics.faults.value)
            fold(throttled, "throttled", statistics.throttled.value)
            for kind in UpstreamErrorKind.allCases {
                fold(
                    upstreamErrors[kind.rawValue], "upstream.\(kind.name)",
                    statistics.upstreamErrors[kind.rawValue].value)
            }
            for cause in InvalidationCause.allCases {
                fold(
                    invalidations[cause.rawValue], "invalidations.\(cause.name)",
                    statistics.invalidations[cause.rawValue].value)
            }
            for (index, store) in [items, queries].enumerated() {
                let name = index == 0 ? "item" : "query"
                fold(evictedBytes[index], "evicted_bytes.\(name)", store.evictedBytes)
                fold(evictions[index], "evictions.\(name)", store.evictions)
                fold(discarded[index], "discarded.\(name)", store.discardedFills)
                bytes[index].record(store.bytes)
                capacity[index].record(store.capacityBytes)
                utilization[index].record(
                    store.capacityBytes == 0 ? 0 : Double(store.bytes) / Double(store.capacityBytes))
                entries[index].record(store.entries)
            }
            fold(joins[0], "joins.item", statistics.itemJoins.value)
            fold(joins[1], "joins.query", statistics.queryJoins.value)
            if let credentials, let metrics = credentialMetrics {
                fold(metrics.refreshes, "credentials.refreshes", credentials.refreshes)
                fold(metrics.failures, "credentials.failures", credentials.failures)
                metrics.usable.record(credentials.usable ? 1 : 0)
                // Seconds until the credentials in hand expire; absent for long-term keys.
                if let expiration = credentials.expiration {
                    if state.credentialsExpiry == nil {
                        state.credentialsExpiry = Metrics.Gauge(label: "dynamocache_credentials_expiry_seconds")
                    }
                    state.credentialsExpiry?.record(expiration - Date().timeIntervalSince1970)
                }
            }
        }
        connections.record(open)
        ready.record(isReady ? 1 : 0)
        if let allocator {
            allocated.record(allocator.allocated)
            resident.record(allocator.resident)
        }
    }
}
