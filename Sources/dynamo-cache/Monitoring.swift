import AWSAuth
import CacheCore
import Foundation
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Prometheus
import Proxy
import Server
import StreamFollower

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
    /// The stream followers (`--streams`); nil when none run.
    let followers: StreamFollowers?
    /// The data listener's refused and timed-out connections.
    let listener: ListenerCounters?
    let started = Date()
    private let ready = NIOLockedValueBox(false)
    private let exporter: MetricsExporter

    init(
        proxy: DynamoProxy, registry: PrometheusCollectorRegistry, allocatorVersion: String?,
        credentials: CredentialsCache? = nil, followers: StreamFollowers? = nil, listener: ListenerCounters? = nil,
        connections: @escaping @Sendable () -> Int
    ) {
        self.proxy = proxy
        self.followers = followers
        self.listener = listener
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
            credentials: credentials?.status,
            streams: streamTables(),
            listener: listener
        )
        return registry.emitToString() + Self.requestDurations(proxy.statistics.durations)
    }

    /// `dynamocache_request_duration_seconds`, a series per (operation, outcome) that has occurred, written from
    /// the proxy's atomic buckets (a swift-metrics timer per pair would take a lock per answer and expose every
    /// pair, most of which never occur).
    static func requestDurations(_ durations: DurationHistograms) -> String {
        var out = "# TYPE dynamocache_request_duration_seconds histogram\n"
        let bounds = DurationHistograms.upperBoundsNanoseconds.map(seconds) + ["+Inf"]
        for operation in OperationLabel.allCases {
            for outcome in OutcomeLabel.allCases {
                guard let (counts, sum) = durations.snapshot(operation: operation, outcome: outcome) else { continue }
                let labels = "operation=\"\(operation.name)\",outcome=\"\(outcome.name)\""
                var cumulative = 0
                for (count, bound) in zip(counts, bounds) {
                    cumulative += count
                    out += "dynamocache_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(cumulative)\n"
                }
                out += "dynamocache_request_duration_seconds_sum{\(labels)} \(Double(sum) / 1e9)\n"
                out += "dynamocache_request_duration_seconds_count{\(labels)} \(cumulative)\n"
            }
        }
        return out
    }

    /// Nanoseconds as decimal seconds, as swift-prometheus writes bucket bounds: `0.00005`, `1.0`, `2.5`.
    static func seconds(_ nanoseconds: UInt64) -> String {
        let fraction = String(nanoseconds % 1_000_000_000)
        let digits = String(repeating: "0", count: 9 - fraction.count) + fraction
        let trimmed = digits.reversed().drop { $0 == "0" }.reversed()
        return "\(nanoseconds / 1_000_000_000).\(trimmed.isEmpty ? "0" : String(trimmed))"
    }

    // MARK: /stats

    func statsJSON() -> String {
        statsDocument().encoded()
    }

    func statsDocument() -> StatsDocument {
        let statistics = proxy.statistics
        let samples = history.all()
        let last = samples.last
        let minuteAgo = samples.last { sample in last.map { $0.time - sample.time >= 60 } ?? false } ?? samples.first
        func lastMinute(_ hits: KeyPath<StatisticsSample, Int>, _ misses: KeyPath<StatisticsSample, Int>) -> Double? {
            guard let last, let first = minuteAgo else { return nil }
            return ratio(last[keyPath: hits] - first[keyPath: hits], last[keyPath: misses] - first[keyPath: misses])
        }
        func store(_ s: CacheStoreStats, hits: Int, misses: Int, lastMinute: Double?) -> StatsDocument.Store {
            StatsDocument.Store(
                hits: hits, misses: misses, hitRatio: ratio(hits, misses), hitRatio1m: lastMinute, entries: s.entries,
                bytes: s.bytes, capacityBytes: s.capacityBytes,
                memoryUtilization: s.capacityBytes == 0 ? 0 : Double(s.bytes) / Double(s.capacityBytes),
                evictions: s.evictions, evictedBytes: s.evictedBytes, expirations: s.expirations,
                invalidations: s.invalidations, discardedFills: s.discardedFills, rejectedTooLarge: s.rejectedTooLarge)
        }
        let items = proxy.itemCacheStats()
        var latency = StatsDocument.Latency(p50: nil, p90: nil, p99: nil, max: nil)
        if let last, let first = minuteAgo {
            let window = zip(last.latency, first.latency).map { $0 - $1 }
            latency = StatsDocument.Latency(
                p50: LatencyHistogram.percentile(0.5, of: window), p90: LatencyHistogram.percentile(0.9, of: window),
                p99: LatencyHistogram.percentile(0.99, of: window), max: LatencyHistogram.percentile(1, of: window))
        }
        var memory = StatsDocument.Memory(allocator: "system")
        if let version = allocatorVersion, let stats = Jemalloc.stats() {
            memory = StatsDocument.Memory(
                allocator: "jemalloc", version: version, allocatedBytes: stats.allocated, activeBytes: stats.active,
                residentBytes: stats.resident, mappedBytes: stats.mapped, retainedBytes: stats.retained)
        }
        let errors = statistics.errors.value
        let faults = statistics.faults.value
        return StatsDocument(
            uptimeSeconds: Date().timeIntervalSince(started),
            connections: connections(),
            requests: StatsDocument.Requests(
                total: statistics.requests.reduce(0) { $0 + $1.value }, errors: errors, faults: faults,
                failed: errors + faults, throttled: statistics.throttled.value,
                byOutcome: Dictionary(
                    uniqueKeysWithValues: OutcomeLabel.allCases.map {
                        ($0.name, statistics.outcomes[$0.rawValue].value)
                    }
                )),
            caches: StatsDocument.Caches(
                item: store(
                    items, hits: items.hits, misses: items.misses, lastMinute: lastMinute(\.itemHits, \.itemMisses)),
                query: store(
                    proxy.queryCacheStats(), hits: statistics.queryHits.value, misses: statistics.queryMisses.value,
                    lastMinute: lastMinute(\.queryHits, \.queryMisses)),
                scan: StatsDocument.Lookups(
                    hits: statistics.scanHits.value, misses: statistics.scanMisses.value,
                    hitRatio1m: lastMinute(\.scanHits, \.scanMisses))),
            latencyMs1m: latency,
            memory: memory,
            history: zip(samples, samples.dropFirst()).map { previous, sample in
                let window = zip(sample.latency, previous.latency).map { $0 - $1 }
                return StatsDocument.Second(
                    t: Int(sample.time), requests: sample.requests - previous.requests,
                    hits: sample.hits - previous.hits, misses: sample.misses - previous.misses,
                    itemHits: sample.itemHits - previous.itemHits, itemMisses: sample.itemMisses - previous.itemMisses,
                    queryHits: sample.queryHits - previous.queryHits,
                    queryMisses: sample.queryMisses - previous.queryMisses,
                    scanHits: sample.scanHits - previous.scanHits, scanMisses: sample.scanMisses - previous.scanMisses,
                    p50Ms: LatencyHistogram.percentile(0.5, of: window),
                    p99Ms: LatencyHistogram.percentile(0.99, of: window), residentBytes: sample.residentBytes)
            },
            credentials: credentials.map { cache in
                let status = cache.status
                return StatsDocument.Credentials(
                    source: status.source, usable: status.usable,
                    expiresInSeconds: status.expiration.map { $0 - Date().timeIntervalSince1970 },
                    refreshes: status.refreshes, refreshFailures: status.failures, lastError: status.lastError)
            },
            streams: streamTables()
        )
    }

    /// The followers' statuses as the document shows them.
    func streamTables() -> [StatsDocument.StreamTable] {
        guard let followers else { return [] }
        let wallNow = Date().timeIntervalSince1970
        return followers.status().map { status in
            StatsDocument.StreamTable(
                table: status.table, state: status.state.rawValue,
                serving: proxy.isServingStreamTable(status.table) ?? false,
                viewType: status.viewType?.rawValue, shards: status.shards,
                lagSeconds: status.lastRecordCreation.map { max(0, wallNow - $0) },
                sinceCurrentSeconds: status.lastCurrentAt.map { max(0, wallNow - $0) },
                recordsApplied: status.recordsApplied, ownRecords: status.ownRecords,
                flushes: Dictionary(
                    uniqueKeysWithValues: StreamLossCause.allCases.map { ($0.rawValue, status.flushes[$0] ?? 0) }),
                errors: Dictionary(
                    uniqueKeysWithValues: StreamErrorKind.allCases.map { ($0.rawValue, status.errors[$0] ?? 0) }),
                lastError: status.lastError)
        }
    }
}

/// Folds the proxy's counters into swift-metrics counters (what changed since the last scrape) and sets the
/// gauges, so that swift-prometheus exposes them. Metrics are made once; labels come from closed sets only.
final class MetricsExporter: Sendable {
    private struct Counters {
        var last: [String: Int] = [:]
        /// Per followed table, made when the table is first followed. Table names are labels here: only tables
        /// that exist and have a stream get a follower, so the set is the operator's, not the clients'.
        var streams: [String: StreamMetrics] = [:]
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
    private let failOpen = FailOpenCause.allCases.map {
        Metrics.Counter(label: "dynamocache_fail_open_total", dimensions: [("cause", $0.name)])
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
    private let refusedConnections = Metrics.Counter(label: "dynamocache_client_connections_refused_total")
    private let timedOutConnections = ConnectionTimeoutKind.allCases.map {
        Metrics.Counter(label: "dynamocache_client_timeouts_total", dimensions: [("kind", $0.name)])
    }
    private let ready = Metrics.Gauge(label: "dynamocache_upstream_ready")
    private let inflight = Metrics.Gauge(label: "dynamocache_upstream_inflight")
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

    /// One followed table's metrics.
    struct StreamMetrics {
        let lag: Metrics.Gauge
        let sinceCurrent: Metrics.Gauge
        let serving: Metrics.Gauge
        let records: Metrics.Counter
        let ownRecords: Metrics.Counter
        let flushes: [Metrics.Counter]
        let errors: [Metrics.Counter]

        init(table: String) {
            lag = Metrics.Gauge(label: "dynamocache_stream_lag_seconds", dimensions: [("table", table)])
            sinceCurrent = Metrics.Gauge(
                label: "dynamocache_stream_since_current_seconds", dimensions: [("table", table)])
            serving = Metrics.Gauge(label: "dynamocache_stream_serving", dimensions: [("table", table)])
            records = Metrics.Counter(
                label: "dynamocache_stream_records_total", dimensions: [("table", table), ("origin", "other")])
            ownRecords = Metrics.Counter(
                label: "dynamocache_stream_records_total", dimensions: [("table", table), ("origin", "own")])
            flushes = StreamLossCause.allCases.map {
                Metrics.Counter(
                    label: "dynamocache_stream_flushes_total", dimensions: [("table", table), ("reason", $0.rawValue)])
            }
            errors = StreamErrorKind.allCases.map {
                Metrics.Counter(
                    label: "dynamocache_stream_errors_total", dimensions: [("table", table), ("error", $0.rawValue)])
            }
        }
    }

    func export(
        proxy: DynamoProxy, connections open: Int, ready isReady: Bool, allocator: Jemalloc.Stats?,
        credentials: CredentialsCache.Status? = nil, streams: [StatsDocument.StreamTable] = [],
        listener: ListenerCounters? = nil
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
            for cause in FailOpenCause.allCases {
                fold(failOpen[cause.rawValue], "fail_open.\(cause.name)", statistics.failOpen[cause.rawValue].value)
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
            for table in streams {
                if state.streams[table.table] == nil { state.streams[table.table] = StreamMetrics(table: table.table) }
                let metrics = state.streams[table.table]!
                // A table never positioned has no lag yet: report it as the largest the alert can see.
                metrics.lag.record(table.lagSeconds ?? 0)
                metrics.sinceCurrent.record(table.sinceCurrentSeconds ?? (table.state == "not_followed" ? 0 : 1e9))
                metrics.serving.record(table.serving ? 1 : 0)
                let key = "stream.\(table.table)."
                fold(metrics.records, key + "records", table.recordsApplied)
                fold(metrics.ownRecords, key + "own", table.ownRecords)
                for (index, cause) in StreamLossCause.allCases.enumerated() {
                    fold(metrics.flushes[index], key + "flush." + cause.rawValue, table.flushes[cause.rawValue] ?? 0)
                }
                for (index, kind) in StreamErrorKind.allCases.enumerated() {
                    fold(metrics.errors[index], key + "error." + kind.rawValue, table.errors[kind.rawValue] ?? 0)
                }
            }
            if let listener {
                fold(refusedConnections, "connections.refused", listener.refused.value)
                for kind in ConnectionTimeoutKind.allCases {
                    fold(
                        timedOutConnections[kind.rawValue], "timeouts.\(kind.name)",
                        listener.timedOut[kind.rawValue].value)
                }
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
        inflight.record(proxy.upstreamInflight)
        if let allocator {
            allocated.record(allocator.allocated)
            resident.record(allocator.resident)
        }
    }
}
