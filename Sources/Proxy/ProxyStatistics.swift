// Design note: what the proxy counts, and how the hot path stays cheap.
//
// Every answered request adds to a handful of plain atomic counters (one per closed-set label value: operation,
// outcome, error class), to a log-scale latency histogram and to the bucket of its (operation, outcome) pair in
// the Prometheus duration histogram, all atomic; nothing on the request path takes a lock, formats a label, or
// allocates. The counters are the one source of truth: `/stats` reads them, and each Prometheus scrape folds
// what changed since the previous scrape into swift-metrics counters (exported by swift-prometheus), so both
// views always agree; the duration histogram is written into the scrape directly, only for the pairs that have
// occurred (most of the 20 × 6 never do). A sampler takes a snapshot every second into a ring of 300, from which
// `/stats` derives per-second history and last-minute ratios and percentiles.

import CacheCore
import DynamoWire
import Metrics
import NIOHTTP1
import Synchronization

/// The operation label of a request: a closed set.
package enum OperationLabel: Int, CaseIterable, Sendable {
    case getItem, batchGetItem, putItem, updateItem, deleteItem, batchWriteItem, query, scan, transactGetItems
    case transactWriteItems, executeStatement, batchExecuteStatement, executeTransaction, createTable, deleteTable
    case updateTable, describeTable, other, streams, notDynamoDB

    package var name: String {
        switch self {
        case .getItem: "GetItem"
        case .batchGetItem: "BatchGetItem"
        case .putItem: "PutItem"
        case .updateItem: "UpdateItem"
        case .deleteItem: "DeleteItem"
        case .batchWriteItem: "BatchWriteItem"
        case .query: "Query"
        case .scan: "Scan"
        case .transactGetItems: "TransactGetItems"
        case .transactWriteItems: "TransactWriteItems"
        case .executeStatement: "ExecuteStatement"
        case .batchExecuteStatement: "BatchExecuteStatement"
        case .executeTransaction: "ExecuteTransaction"
        case .createTable: "CreateTable"
        case .deleteTable: "DeleteTable"
        case .updateTable: "UpdateTable"
        case .describeTable: "DescribeTable"
        case .other: "Other"
        case .streams: "Streams"
        case .notDynamoDB: "NotDynamoDB"
        }
    }

    init(_ target: APITarget) {
        switch target {
        case .other: self = .notDynamoDB
        case .dynamoDBStreams: self = .streams
        case .dynamoDB(let operation):
            switch operation {
            case .getItem: self = .getItem
            case .batchGetItem: self = .batchGetItem
            case .putItem: self = .putItem
            case .updateItem: self = .updateItem
            case .deleteItem: self = .deleteItem
            case .batchWriteItem: self = .batchWriteItem
            case .query: self = .query
            case .scan: self = .scan
            case .transactGetItems: self = .transactGetItems
            case .transactWriteItems: self = .transactWriteItems
            case .executeStatement: self = .executeStatement
            case .batchExecuteStatement: self = .batchExecuteStatement
            case .executeTransaction: self = .executeTransaction
            case .createTable: self = .createTable
            case .deleteTable: self = .deleteTable
            case .updateTable: self = .updateTable
            case .describeTable: self = .describeTable
            default: self = .other
            }
        }
    }
}

/// The outcome label of an answer: the `x-dynamo-cache` status, or `rejected` for answers the proxy composed
/// without consulting anything (malformed requests).
package enum OutcomeLabel: Int, CaseIterable, Sendable {
    case hit, miss, partial, bypass, write, rejected

    package var name: String {
        switch self {
        case .hit: "hit"
        case .miss: "miss"
        case .partial: "partial"
        case .bypass: "bypass"
        case .write: "write"
        case .rejected: "rejected"
        }
    }

    init(_ status: CacheStatus?) {
        switch status {
        case .hit: self = .hit
        case .miss: self = .miss
        case .partial: self = .partial
        case .bypass: self = .bypass
        case .write: self = .write
        case .rejected, nil: self = .rejected
        }
    }
}

/// Why cache entries were dropped: a closed set.
package enum InvalidationCause: Int, CaseIterable, Sendable {
    case write, conditionFailed, unknownOutcome, tableOperation, partiql, notFound, flush, nonCanonical, stream,
        streamLost

    package var name: String {
        switch self {
        case .write: "write"
        case .conditionFailed: "condition_failed"
        case .unknownOutcome: "unknown_outcome"
        case .tableOperation: "table_operation"
        case .partiql: "partiql"
        case .notFound: "not_found"
        case .flush: "flush"
        case .nonCanonical: "non_canonical"
        case .stream: "stream"
        case .streamLost: "stream_lost"
        }
    }
}

/// Why a request to the storage server failed: a closed set.
package enum UpstreamErrorKind: Int, CaseIterable, Sendable {
    case unreachable, timeout, connectionLost, invalidResponse, tlsRefused, noCredentials, overloaded

    package var name: String {
        switch self {
        case .unreachable: "unreachable"
        case .tlsRefused: "tls_refused"
        case .noCredentials: "no_credentials"
        case .timeout: "timeout"
        case .connectionLost: "connection_lost"
        case .invalidResponse: "invalid_response"
        case .overloaded: "overloaded"
        }
    }
}

/// Where the cache path failed in a way it should not have, and fell back to forwarding the request: a closed set.
package enum FailOpenCause: Int, CaseIterable, Sendable {
    /// A stored entry could not be turned into an answer.
    case storedEntry
    /// The storage server answered a read with a success the proxy could not read; passed on as it came.
    case unreadableAnswer
    /// The proxy's handling of a read failed with an error nothing expected.
    case unexpectedError

    package var name: String {
        switch self {
        case .storedEntry: "stored_entry"
        case .unreadableAnswer: "unreadable_answer"
        case .unexpectedError: "unexpected_error"
        }
    }
}

/// A monotonically increasing count, shared by the event loops without a lock.
package final class AtomicCounter: Sendable {
    private let storage = Atomic<Int>(0)
    package init() {}
    @inline(__always) package func add(_ amount: Int = 1) { storage.add(amount, ordering: .relaxed) }
    package var value: Int { storage.load(ordering: .relaxed) }
}

/// A log-scale latency histogram: four buckets per power of two from 1 µs, atomic counts.
package final class LatencyHistogram: Sendable {
    package static let bucketCount = 112
    private let buckets: [AtomicCounter] = (0..<LatencyHistogram.bucketCount).map { _ in AtomicCounter() }

    package init() {}

    package func record(nanoseconds: UInt64) {
        buckets[Self.bucket(of: nanoseconds)].add()
    }

    package func counts() -> [Int] { buckets.map(\.value) }

    static func bucket(of nanoseconds: UInt64) -> Int {
        let micros = max(nanoseconds / 1_000, 1)
        let octave = 63 - micros.leadingZeroBitCount
        let sub = octave >= 2 ? Int((micros >> (octave - 2)) & 3) : Int(micros << (2 - octave)) & 3
        return min(octave * 4 + sub, bucketCount - 1)
    }

    /// The upper bound of a bucket, in milliseconds.
    static func upperBoundMilliseconds(_ bucket: Int) -> Double {
        let octave = bucket / 4
        let sub = bucket % 4
        let micros = Double(1 << octave) * (1 + Double(sub + 1) / 4)
        return micros / 1_000
    }

    /// The value below which `fraction` of the counted observations fall, in milliseconds; nil when empty.
    package static func percentile(_ fraction: Double, of counts: [Int]) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, Int((Double(total) * fraction).rounded(.up)))
        var seen = 0
        for (bucket, count) in counts.enumerated() {
            seen += count
            if seen >= rank { return upperBoundMilliseconds(bucket) }
        }
        return upperBoundMilliseconds(counts.count - 1)
    }
}

/// Answer latency per (operation, outcome) in fixed buckets, as a Prometheus histogram holds it: a count per
/// bucket and a sum, atomic, so recording takes no lock.
package final class DurationHistograms: Sendable {
    /// Upper bounds: cache hits take ~0.1 ms, misses and writes as long as the storage server; buckets span both.
    package static let upperBoundsNanoseconds: [UInt64] = [
        50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]
    private static let slots = upperBoundsNanoseconds.count + 1  // the last: above every bound
    private static let pairs = OperationLabel.allCases.count * OutcomeLabel.allCases.count
    private let counts = (0..<DurationHistograms.pairs * DurationHistograms.slots).map { _ in AtomicCounter() }
    private let sums = (0..<DurationHistograms.pairs).map { _ in AtomicCounter() }

    package init() {}

    func record(operation: OperationLabel, outcome: OutcomeLabel, nanoseconds: UInt64) {
        let pair = operation.rawValue * OutcomeLabel.allCases.count + outcome.rawValue
        var slot = 0
        while slot < Self.upperBoundsNanoseconds.count, nanoseconds > Self.upperBoundsNanoseconds[slot] { slot += 1 }
        counts[pair * Self.slots + slot].add()
        sums[pair].add(Int(clamping: nanoseconds))
    }

    /// One pair's counts per bucket (not cumulative; the last is above every bound) and their sum, or nil when the
    /// pair has never occurred.
    package func snapshot(operation: OperationLabel, outcome: OutcomeLabel) -> (counts: [Int], sumNanoseconds: Int)? {
        let pair = operation.rawValue * OutcomeLabel.allCases.count + outcome.rawValue
        let values = (0..<Self.slots).map { counts[pair * Self.slots + $0].value }
        guard values.contains(where: { $0 > 0 }) else { return nil }
        return (values, sums[pair].value)
    }
}

/// The proxy's counters. See the design note at the top of the file.
package final class ProxyStatistics: Sendable {
    package let requests = OperationLabel.allCases.map { _ in AtomicCounter() }
    package let outcomes = OutcomeLabel.allCases.map { _ in AtomicCounter() }
    package let errors = AtomicCounter()
    package let faults = AtomicCounter()
    package let throttled = AtomicCounter()
    package let queryHits = AtomicCounter()
    package let queryMisses = AtomicCounter()
    package let scanHits = AtomicCounter()
    package let scanMisses = AtomicCounter()
    package let itemJoins = AtomicCounter()
    package let queryJoins = AtomicCounter()
    package let invalidations = InvalidationCause.allCases.map { _ in AtomicCounter() }
    package let upstreamErrors = UpstreamErrorKind.allCases.map { _ in AtomicCounter() }
    package let failOpen = FailOpenCause.allCases.map { _ in AtomicCounter() }
    /// A bit per fail-open cause already logged: the first occurrence says why, the rest are only counted.
    private let failOpenLogged = Atomic<Int>(0)
    package let latency = LatencyHistogram()
    /// Answer latency per (operation, outcome), in `/metrics`' buckets.
    package let durations = DurationHistograms()
    private let upstreamTimer: Metrics.Timer

    package init() {
        upstreamTimer = Metrics.Timer(label: "dynamocache_upstream_request_duration_seconds")
    }

    /// Counts one answered request.
    package func record(
        operation: OperationLabel,
        outcome: OutcomeLabel,
        status: HTTPResponseStatus,
        errorCode: @autoclosure () -> String?,
        nanoseconds: UInt64
    ) {
        requests[operation.rawValue].add()
        outcomes[outcome.rawValue].add()
        switch (operation, outcome) {
        case (.query, .hit): queryHits.add()
        case (.query, .miss): queryMisses.add()
        case (.scan, .hit): scanHits.add()
        case (.scan, .miss): scanMisses.add()
        default: break
        }
        switch status.code {
        case 400..<500:
            errors.add()
            switch errorCode() {
            case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded":
                throttled.add()
            default: break
            }
        case 500...:
            faults.add()
        default:
            break
        }
        latency.record(nanoseconds: nanoseconds)
        durations.record(operation: operation, outcome: outcome, nanoseconds: nanoseconds)
    }

    func recordUpstream(nanoseconds: UInt64, error: UpstreamErrorKind?) {
        upstreamTimer.recordNanoseconds(Int64(clamping: nanoseconds))
        if let error { upstreamErrors[error.rawValue].add() }
    }

    /// Counts a fall-back; true the first time for `cause`.
    func failedOpen(_ cause: FailOpenCause) -> Bool {
        failOpen[cause.rawValue].add()
        let bit = 1 << cause.rawValue
        return failOpenLogged.bitwiseOr(bit, ordering: .relaxed).oldValue & bit == 0
    }

    func invalidated(_ cause: InvalidationCause) {
        invalidations[cause.rawValue].add()
    }
}

/// Requests waiting on the storage server: taken before a request is sent, given back when its answer (or
/// failure) arrives. One shared atomic, touched by misses and writes only, never by a hit.
final class InflightCounter: Sendable {
    private let count = Atomic<Int>(0)

    /// Takes a place unless `limit` are taken; returns whether it did.
    func enter(limit: Int) -> Bool {
        if count.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        count.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func leave() { count.wrappingSubtract(1, ordering: .relaxed) }

    var value: Int { count.load(ordering: .relaxed) }
}
