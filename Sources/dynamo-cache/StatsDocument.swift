import Foundation

/// The `/stats` document: one schema, documented in the README ("The /stats document"), read by the dashboard,
/// `dynamo-cache stats` and the tests. Every member is always present; an unknown value is `null`.
struct StatsDocument: Codable, Equatable {
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
    /// The proxy's own AWS credentials (`--upstream-auth sign`); null when it forwards clients' signatures.
    @Nullable var credentials: Credentials?

    struct Requests: Codable, Equatable {
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

        enum CodingKeys: String, CodingKey {
            case total, errors, faults, failed, throttled
            case byOutcome = "by_outcome"
        }
    }

    struct Caches: Codable, Equatable {
        var item: Store
        var query: Store
        /// Scans share the query cache's memory; only their hits and misses are their own.
        var scan: Lookups
    }

    struct Lookups: Codable, Equatable {
        var hits: Int
        var misses: Int
        @Nullable var hitRatio: Double?
        @Nullable var hitRatio1m: Double?

        enum CodingKeys: String, CodingKey {
            case hits, misses
            case hitRatio = "hit_ratio"
            case hitRatio1m = "hit_ratio_1m"
        }
    }

    struct Store: Codable, Equatable {
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
            case hits, misses, entries, bytes, evictions, expirations, invalidations
            case hitRatio = "hit_ratio"
            case hitRatio1m = "hit_ratio_1m"
            case capacityBytes = "capacity_bytes"
            case memoryUtilization = "memory_utilization"
            case evictedBytes = "evicted_bytes"
            case discardedFills = "discarded_fills"
            case rejectedTooLarge = "rejected_too_large"
        }
    }

    struct Latency: Codable, Equatable {
        @Nullable var p50: Double?
        @Nullable var p90: Double?
        @Nullable var p99: Double?
        @Nullable var max: Double?
    }

    /// The allocator's view of the process; the byte counts are null with the system allocator.
    struct Memory: Codable, Equatable {
        /// `jemalloc` or `system`.
        var allocator: String
        @Nullable var version: String?
        @Nullable var allocatedBytes: Int?
        @Nullable var activeBytes: Int?
        @Nullable var residentBytes: Int?
        @Nullable var mappedBytes: Int?
        @Nullable var retainedBytes: Int?

        enum CodingKeys: String, CodingKey {
            case allocator, version
            case allocatedBytes = "allocated_bytes"
            case activeBytes = "active_bytes"
            case residentBytes = "resident_bytes"
            case mappedBytes = "mapped_bytes"
            case retainedBytes = "retained_bytes"
        }
    }

    /// What happened in one second.
    struct Second: Codable, Equatable {
        /// Unix time of the second's end.
        var t: Int
        var requests: Int
        var hits: Int
        var misses: Int
        @Nullable var p50Ms: Double?
        @Nullable var p99Ms: Double?
        @Nullable var residentBytes: Int?

        enum CodingKeys: String, CodingKey {
            case t, requests, hits, misses
            case p50Ms = "p50_ms"
            case p99Ms = "p99_ms"
            case residentBytes = "resident_bytes"
        }
    }

    struct Credentials: Codable, Equatable {
        var source: String
        var usable: Bool
        @Nullable var expiresInSeconds: Double?
        var refreshes: Int
        var refreshFailures: Int
        @Nullable var lastError: String?

        enum CodingKeys: String, CodingKey {
            case source, usable, refreshes
            case expiresInSeconds = "expires_in_seconds"
            case refreshFailures = "refresh_failures"
            case lastError = "last_error"
        }
    }

    enum CodingKeys: String, CodingKey {
        case connections, requests, caches, memory, history, credentials
        case uptimeSeconds = "uptime_seconds"
        case latencyMs1m = "latency_ms_1m"
    }

    /// The document as sent: compact, members in a stable order.
    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self) + "\n"
    }
}

/// An optional member written as `null` when absent instead of being left out, so that every member of the
/// schema is always there.
@propertyWrapper
struct Nullable<Value: Codable & Equatable>: Codable, Equatable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
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
