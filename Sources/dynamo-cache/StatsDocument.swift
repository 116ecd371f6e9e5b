import Foundation

/// The `/stats` document: one schema, documented in the README ("The /stats document"), read by the dashboard,
/// `dynamo-cache stats` and the tests. Every member is always present; an unknown value is `null`.
/// Members are named after the properties in snake case (the encoder's strategy); only names with a digit after
/// a word are spelled out in `CodingKeys`.
struct StatsDocument: Encodable {
    var uptimeSeconds: Double
    /// Open client connections on the data plane.
    var connections: Int
    var requests: Requests
    var caches: Caches
    /// Latency of every answer over the last minute.
    var latencyMs1m: Latency
    var memory: Memory
    /// One element per second, oldest first, up to 5 minutes.
    var history: [Second]
    /// The proxy's own AWS credentials (`--upstream-auth sign` or `--streams`); null when it has none.
    @Nullable var credentials: Credentials?
    /// One element per table whose stream is followed (`--streams`), by name; empty when none is.
    var streams: [StreamTable]

    struct Requests: Encodable {
        var total: Int
        /// 4xx answers.
        var errors: Int
        /// 5xx answers.
        var faults: Int
        /// errors + faults.
        var failed: Int
        var throttled: Int
        /// Per `x-dynamo-cache` value (hit, miss, partial, bypass, write), and `rejected`.
        var byOutcome: [String: Int]
    }

    struct Caches: Encodable {
        var item: Store
        var query: Store
        /// Scans share the query cache's memory; only their hits and misses are their own.
        var scan: Lookups
    }

    struct Lookups: Encodable {
        var hits: Int
        var misses: Int
        @Nullable var hitRatio: Double?
        @Nullable var hitRatio1m: Double?

        enum CodingKeys: String, CodingKey {
            case hits, misses, hitRatio
            case hitRatio1m = "hit_ratio_1m"  // the snake-case strategy would write hit_ratio1m
        }
    }

    struct Store: Encodable {
        var hits: Int
        var misses: Int
        @Nullable var hitRatio: Double?
        @Nullable var hitRatio1m: Double?
        var entries: Int
        var bytes: Int
        var capacityBytes: Int
        var memoryUtilization: Double
        var evictions: Int
        var evictedBytes: Int
        var expirations: Int
        /// Entries dropped by writes, flushes and table drops (a dropped table's entries when reclaimed).
        var invalidations: Int
        var discardedFills: Int
        var rejectedTooLarge: Int

        enum CodingKeys: String, CodingKey {
            case hits, misses, hitRatio, entries, bytes, capacityBytes, memoryUtilization, evictions, evictedBytes
            case expirations, invalidations, discardedFills, rejectedTooLarge
            case hitRatio1m = "hit_ratio_1m"
        }
    }

    struct Latency: Encodable {
        @Nullable var p50: Double?
        @Nullable var p90: Double?
        @Nullable var p99: Double?
        @Nullable var max: Double?
    }

    /// The allocator's view of the process; the byte counts are null with the system allocator.
    struct Memory: Encodable {
        /// `jemalloc` or `system`.
        var allocator: String
        @Nullable var version: String?
        @Nullable var allocatedBytes: Int?
        @Nullable var activeBytes: Int?
        @Nullable var residentBytes: Int?
        @Nullable var mappedBytes: Int?
        @Nullable var retainedBytes: Int?
    }

    /// What happened in one second.
    struct Second: Encodable {
        /// Unix time of the second's end.
        var t: Int
        var requests: Int
        /// Every cache's lookups together, then each cache's.
        var hits: Int
        var misses: Int
        var itemHits: Int
        var itemMisses: Int
        var queryHits: Int
        var queryMisses: Int
        var scanHits: Int
        var scanMisses: Int
        @Nullable var p50Ms: Double?
        @Nullable var p99Ms: Double?
        @Nullable var residentBytes: Int?
    }

    struct Credentials: Encodable {
        var source: String
        var usable: Bool
        @Nullable var expiresInSeconds: Double?
        var refreshes: Int
        var refreshFailures: Int
        @Nullable var lastError: String?
    }

    /// One table's stream follower.
    struct StreamTable: Encodable {
        var table: String
        /// `starting`, `following`, `backing_off` (calls fail: throttled, unreachable) or `not_followed` (no stream).
        var state: String
        /// Whether the table's entries are served from memory now.
        var serving: Bool
        @Nullable var viewType: String?
        var shards: Int
        /// Now minus the creation time of the last record applied.
        @Nullable var lagSeconds: Double?
        /// Seconds since the follower last read every shard to its end; over --stream-max-lag, not served.
        @Nullable var sinceCurrentSeconds: Double?
        var recordsApplied: Int
        /// Records of this node's own writes, which changed nothing.
        var ownRecords: Int
        /// Flushes because the follower lost its place, by cause.
        var flushes: [String: Int]
        /// Failed calls, by kind.
        var errors: [String: Int]
        @Nullable var lastError: String?
    }

    enum CodingKeys: String, CodingKey {
        case uptimeSeconds, connections, requests, caches, memory, history, credentials, streams
        case latencyMs1m = "latency_ms_1m"
    }

    /// The document as sent: compact, members in a stable order.
    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self) + "\n"
    }
}

/// An optional member written as `null` when absent instead of being left out, so that every member of the
/// schema is always there.
// swift-format-ignore: UseSynthesizedInitializer
@propertyWrapper
struct Nullable<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    // Spelt out, not synthesized: with it, the documents' memberwise initializers take the wrapped value.
    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension StatsDocument.Lookups {
    init(hits: Int, misses: Int, hitRatio1m: Double?) {
        self.init(hits: hits, misses: misses, hitRatio: ratio(hits, misses), hitRatio1m: hitRatio1m)
    }
}

/// hits / (hits + misses); nil before any lookup.
func ratio(_ hits: Int, _ misses: Int) -> Double? {
    hits + misses == 0 ? nil : Double(hits) / Double(hits + misses)
}
