// Design note: following one table's DynamoDB Stream.
//
// What it guarantees: every record of the stream from the follower's position on is handed to the delegate, a
// key's records in their order, or the delegate is told the place was lost (`lost`) before anything later is.
// How:
// - Position. DescribeTable finds the stream; DescribeStream (every page) lists its shards. Each open shard gets
//   a `LATEST` iterator; closed shards are behind the position. Then `positioned`.
// - Lineage. A shard is read only once its parent (if the follower read it) returned its last record, so a
//   key's records, which move from a parent to a child when a shard splits or rolls over, come in order.
//   A closed shard (GetRecords gives no next iterator) is replaced by its children, found with DescribeStream
//   and read from `TRIM_HORIZON`. A new shard whose parent the follower never knew is a gap.
// - Progress. An iterator is renewed with `AFTER_SEQUENCE_NUMBER` of the last record handed over when it expires;
//   with no record handed over yet there is no safe place to resume, so that is a lost place, as are
//   TrimmedDataAccessException, a gap, the stream disabled or replaced (DescribeTable is asked again every
//   `describeInterval`), and calls that keep being refused (not throttled) `failuresBeforeRepositioning` times.
// - Pace. No shard is asked for records more often than once a `pollInterval` (4 times a second by default),
//   even while it has more: a stream's shard serves few readers, and the proxy is one of them.
// - Currency. A round reads every readable shard once; when each answered fewer records than asked, in less
//   than half the 1 MB an answer may hold, the last of them no older than the lag allowed (it was at its end),
//   the table was current as of the round's start: `current(asOf:)`. Never while a closed shard's children
//   are not listed yet (they are looked for every round), nor with no open shard at all. Rounds run every
//   `pollInterval` (at most 4 a second per shard by default), and back off
//   (doubling, up to `maxBackoff`) on throttling and failures — during which the delegate hears nothing, so the
//   caches stop serving the table by themselves once it falls `--stream-max-lag` behind.
// Time is an input (`clock`, `wallClock`); `step` does one round, so tests drive it without sleeping.

import DynamoWire
import Logging
import NIOCore

/// How a follower paces itself. Durations in nanoseconds.
package struct StreamFollowerConfiguration: Sendable {
    /// Time between rounds when every shard is at its end (`--stream-poll-interval`).
    package var pollInterval: UInt64
    /// The longest wait after repeated throttling or failures.
    package var maxBackoff: UInt64
    /// How often DescribeTable is asked whether the stream is still the same, and whether a table without one
    /// has one now.
    package var describeInterval: UInt64
    /// Records asked for per GetRecords call (DynamoDB's maximum is 1000).
    package var recordLimit: Int
    /// A page whose last record is older than this is a backlog, not the shard's end (`--stream-max-lag`).
    package var maxLag: UInt64

    package init(
        pollInterval: UInt64 = 250_000_000, maxBackoff: UInt64 = 5_000_000_000,
        describeInterval: UInt64 = 30_000_000_000, recordLimit: Int = 1000, maxLag: UInt64 = 5_000_000_000
    ) {
        self.maxLag = maxLag
        self.pollInterval = pollInterval
        self.maxBackoff = maxBackoff
        self.describeInterval = describeInterval
        self.recordLimit = recordLimit
    }
}

/// Why a follower lost its place (the `cause` label of its flushes).
package enum StreamLossCause: String, Sendable, CaseIterable {
    case trimmed = "trimmed"
    case shardGap = "shard_gap"
    case expiredIterator = "expired_iterator"
    case streamDisabled = "stream_disabled"
    case streamReplaced = "stream_replaced"
    /// Calls kept failing other than by throttling (say, iterators the server no longer knows after a restart).
    case unreadable = "unreadable"
}

/// Why a follower's call failed (the `kind` label of its errors).
package enum StreamErrorKind: String, Sendable, CaseIterable {
    case throttled = "throttled"
    case noCredentials = "no_credentials"
    case transport = "transport"
    case serverError = "server_error"
    case refused = "refused"
    case invalidAnswer = "invalid_answer"
}

/// What one follower has done, for `/stats` and `/metrics`.
package struct StreamTableStatus: Sendable, Equatable {
    package enum State: String, Sendable {
        case starting
        case notFollowed = "not_followed"
        case following
        case backingOff = "backing_off"
        case missing
    }

    package var table: String
    package var state: State = .starting
    package var viewType: StreamViewType?
    /// Shards being read now.
    package var shards = 0
    /// Unix seconds of the last record handed over.
    package var lastRecordCreation: Double?
    /// Unix seconds of the last round that reached the end of every shard.
    package var lastCurrentAt: Double?
    /// Monotonic nanoseconds of the same.
    package var currentAsOf: UInt64?
    package var recordsApplied = 0
    package var ownRecords = 0
    package var flushes: [StreamLossCause: Int] = [:]
    package var errors: [StreamErrorKind: Int] = [:]
    /// The last error, for the operator.
    package var lastError: String?

    package init(table: String) {
        self.table = table
    }
}

/// Follows one table's stream (see the design note). Used by one task at a time.
package final class TableStreamFollower {
    package let table: String
    private let api: any StreamsAPI
    private let delegate: any StreamFollowerDelegate
    private let configuration: StreamFollowerConfiguration
    private let clock: @Sendable () -> UInt64
    private let wallClock: @Sendable () -> Double
    private let logger: Logger
    package private(set) var status: StreamTableStatus

    private struct Shard {
        var parentID: String?
        var iterator: String?
        var lastSequence: String?
        /// Read to its end (or closed before the follower's position).
        var done = false
    }

    private enum Phase {
        case describe
        case position(arn: String, viewType: StreamViewType, keys: [String])
        case follow(arn: String, viewType: StreamViewType)
    }

    private var phase = Phase.describe
    private var shards: [String: Shard] = [:]
    /// Closed shards whose children DescribeStream has not listed yet: until it does, their records may be
    /// anywhere, so the table is not current.
    private var awaitingChildren: Set<String> = []
    /// The table does not exist: the follower has stopped.
    package private(set) var isFinished = false
    /// The last round read every shard to its end (or the follower has just positioned).
    package private(set) var isCurrent = false
    private var warnedOfClock = false
    private var nextDescribe: UInt64 = 0
    private var backoff: UInt64 = 0
    /// Failures in a row while following, throttling aside.
    private var failures = 0
    /// After this many, the follower positions again rather than retry the same iterators forever.
    static let failuresBeforeRepositioning = 5
    private var description: TableStreamDescription?

    package init(
        table: String, api: any StreamsAPI, delegate: any StreamFollowerDelegate,
        configuration: StreamFollowerConfiguration, logger: Logger,
        clock: @escaping @Sendable () -> UInt64, wallClock: @escaping @Sendable () -> Double
    ) {
        self.table = table
        self.api = api
        self.delegate = delegate
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.wallClock = wallClock
        status = StreamTableStatus(table: table)
    }

    /// Does one round of work and returns how long to wait before the next (nanoseconds).
    package func step() async -> UInt64 {
        do throws(Failure) {
            let wait: UInt64
            switch phase {
            case .describe: wait = try await describe()
            case .position(let arn, let viewType, let keys): wait = try await position(arn, viewType, keys)
            case .follow(let arn, let viewType): wait = try await follow(arn, viewType)
            }
            backoff = 0
            failures = 0
            if status.state == .backingOff { status.state = .following }
            return wait
        } catch {
            switch error {
            case .lost(let cause):
                lose(cause)
                return 0
            case .failed(let kind, let detail):
                status.errors[kind, default: 0] += 1
                if status.lastError != detail || backoff == 0 {
                    logger.warning(
                        "stream follower call failed", metadata: ["table": "\(table)", "error": "\(detail)"])
                }
                status.lastError = detail
                if case .follow = phase {
                    status.state = .backingOff
                    if kind != .throttled && kind != .noCredentials && kind != .transport {
                        failures += 1
                        if failures >= Self.failuresBeforeRepositioning {
                            failures = 0
                            lose(.unreadable)
                            return backoff
                        }
                    }
                }
                backoff = backoff == 0 ? configuration.pollInterval : min(backoff * 2, configuration.maxBackoff)
                return backoff
            }
        }
    }

    /// Runs rounds until the task is cancelled, reporting the status after each.
    package func run(report: (StreamTableStatus) -> Void, sleep: (UInt64) async throws -> Void) async {
        while !Task.isCancelled && !isFinished {
            let wait = await step()
            report(status)
            do {
                try await sleep(wait)
            } catch {
                return
            }
        }
    }

    // MARK: Phases

    private enum Failure: Error {
        case lost(StreamLossCause)
        case failed(StreamErrorKind, String)
    }

    private func describe() async throws(Failure) -> UInt64 {
        let answer = try await call(.describeTable, StreamsRequest.describeTable(table), missing: nil)
        guard let answer else {
            // No such table: nothing of it is cached, and the follower stops; if a table of that name is made
            // later, the proxy starts another when it meets it.
            logger.debug("table does not exist: not followed", metadata: ["table": "\(table)"])
            status.state = .missing
            isFinished = true  // whoever runs the follower tells the delegate (StreamFollowers)
            return 0
        }
        let description: TableStreamDescription
        do {
            description = try TableStreamDescription(parsing: answer.body)
        } catch {
            throw .failed(.invalidAnswer, "DescribeTable: \(error)")
        }
        self.description = description
        guard let stream = description.stream else { return notFollowed() }
        phase = .position(arn: stream.arn, viewType: stream.viewType, keys: description.keyAttributes)
        return 0
    }

    private func notFollowed() -> UInt64 {
        if status.state != .notFollowed {
            logger.info("table has no stream: cached by TTL alone", metadata: ["table": "\(table)"])
        }
        status.state = .notFollowed
        status.viewType = nil
        status.shards = 0
        delegate.notFollowed(table)
        nextDescribe = clock() &+ configuration.describeInterval
        return configuration.describeInterval
    }

    private func position(_ arn: String, _ viewType: StreamViewType, _ keys: [String]) async throws(Failure)
        -> UInt64
    {
        let (streamStatus, listed) = try await describeStream(arn)
        switch streamStatus {
        case "ENABLED": break
        case "ENABLING": return configuration.pollInterval
        default:
            phase = .describe
            return notFollowed()
        }
        let at = clock()
        var positioned: [String: Shard] = [:]
        for shard in listed {
            positioned[shard.id] = Shard(parentID: shard.parentID, done: shard.endingSequenceNumber != nil)
        }
        for (id, shard) in positioned where !shard.done {
            // A child whose parent is still open is read after it, from its start.
            if let parent = shard.parentID, positioned[parent]?.done == false { continue }
            positioned[id]!.iterator = try await iterator(arn, shard: id, start: .latest)
        }
        shards = positioned
        awaitingChildren = []
        phase = .follow(arn: arn, viewType: viewType)
        nextDescribe = at &+ configuration.describeInterval
        status.state = .following
        status.viewType = viewType
        status.shards = shards.values.filter { !$0.done }.count
        status.currentAsOf = at
        status.lastCurrentAt = wallClock()
        logger.info(
            "stream follower positioned",
            metadata: ["table": "\(table)", "shards": "\(status.shards)", "view": "\(viewType.rawValue)"])
        isCurrent = true
        delegate.positioned(table, keyAttributes: keys, viewType: viewType, at: at)
        return configuration.pollInterval
    }

    private func follow(_ arn: String, _ viewType: StreamViewType) async throws(Failure) -> UInt64 {
        let started = clock()
        if started >= nextDescribe {
            nextDescribe = started &+ configuration.describeInterval
            let answer = try await call(.describeTable, StreamsRequest.describeTable(table), missing: nil)
            let now = answer.flatMap { try? TableStreamDescription(parsing: $0.body) }
            if now?.stream?.arn != arn {
                throw .lost(now?.stream == nil ? .streamDisabled : .streamReplaced)
            }
        }
        var atEnd = true
        var closed = false
        for id in shards.keys.sorted() {
            guard var shard = shards[id], !shard.done else { continue }
            if let parent = shard.parentID, shards[parent]?.done == false { continue }
            if shard.iterator == nil {
                shard.iterator = try await iterator(arn, shard: id, start: .trimHorizon)
            }
            let page: StreamRecordsPage
            let bytes: Int
            do throws(Failure) {
                (page, bytes) = try await records(shard.iterator!)
            } catch .lost(.expiredIterator) {
                // Resume right after the last record handed over; without one there is no safe place.
                guard let last = shard.lastSequence else { throw .lost(.expiredIterator) }
                shard.iterator = try await iterator(arn, shard: id, start: .afterSequenceNumber(last))
                shards[id] = shard
                atEnd = false
                continue
            }
            if let last = page.records.last {
                let own = delegate.apply(page.records, table: table, viewType: viewType)
                status.recordsApplied += page.records.count - own
                status.ownRecords += own
                status.lastRecordCreation = last.approximateCreation
                shard.lastSequence = last.sequenceNumber
            }
            let wallNow = wallClock()
            if !Self.isEnd(
                page, bytes: bytes, limit: configuration.recordLimit, wallNow: wallNow,
                maxLag: configuration.maxLag)
            {
                atEnd = false
            }
            if let last = page.records.last, last.approximateCreation > wallNow + 2, !warnedOfClock {
                warnedOfClock = true
                logger.warning(
                    "the storage server's clock is ahead of this host's: records are dated in the future",
                    metadata: ["table": "\(table)", "seconds": "\(Int(last.approximateCreation - wallNow))"])
            }
            shard.iterator = page.nextShardIterator
            if page.nextShardIterator == nil {
                shard.done = true
                closed = true
                if !shards.values.contains(where: { $0.parentID == id }) { awaitingChildren.insert(id) }
                // A shard that closes without children may mean the stream was disabled: ask at once.
                nextDescribe = started
            }
            shards[id] = shard
        }
        if !awaitingChildren.isEmpty, try await adoptChildren(arn) {
            atEnd = false  // a shard nobody has read yet
        }
        if closed { atEnd = false }  // read the children at once
        status.shards = shards.values.filter { !$0.done }.count
        // Never current while a closed shard's children are unknown, or with nothing open to read.
        isCurrent = false
        guard awaitingChildren.isEmpty, status.shards > 0 else { return configuration.pollInterval }
        guard atEnd else {
            // More to read: the next round at once, but no shard read more often than once a poll interval.
            let elapsed = clock() &- started
            return elapsed >= configuration.pollInterval ? 0 : configuration.pollInterval - elapsed
        }
        isCurrent = true
        status.currentAsOf = started
        status.lastCurrentAt = wallClock()
        delegate.current(table, asOf: started)
        return configuration.pollInterval
    }

    /// Adds the shards that appeared since the follower last listed them; they must descend from known ones.
    /// Returns whether it added any.
    private func adoptChildren(_ arn: String) async throws(Failure) -> Bool {
        let (_, listed) = try await describeStream(arn)
        var added = false
        for shard in listed where shards[shard.id] == nil {
            guard let parent = shard.parentID, shards[parent] != nil else { throw .lost(.shardGap) }
            shards[shard.id] = Shard(parentID: parent)
            awaitingChildren.remove(parent)
            added = true
        }
        return added
    }

    /// Whether a page shows its shard read to its end: fewer records than asked, not cut short by the 1 MB
    /// limit of an answer, and none of them older than the lag allowed (an older one is a backlog being read).
    static func isEnd(_ page: StreamRecordsPage, bytes: Int, limit: Int, wallNow: Double, maxLag: UInt64) -> Bool {
        guard page.records.count < limit, bytes < 512 << 10 else { return false }
        guard let last = page.records.last else { return true }
        return wallNow - last.approximateCreation <= Double(maxLag) / 1e9
    }

    private func lose(_ cause: StreamLossCause) {
        logger.warning(
            "stream follower lost its place: table flushed", metadata: ["table": "\(table)", "cause": "\(cause)"])
        status.flushes[cause, default: 0] += 1
        status.state = .starting
        status.shards = 0
        shards = [:]
        awaitingChildren = []
        phase = .describe
        delegate.lost(table)
    }

    // MARK: Calls

    private func describeStream(_ arn: String) async throws(Failure) -> (String, [StreamShard]) {
        var shards: [StreamShard] = []
        var start: String?
        var status = ""
        repeat {
            guard
                let answer = try await call(
                    .describeStream, StreamsRequest.describeStream(arn, exclusiveStartShardID: start),
                    missing: .streamDisabled)
            else { throw .lost(.streamDisabled) }
            let page: StreamDescription
            do {
                page = try StreamDescription(parsing: answer.body)
            } catch {
                throw .failed(.invalidAnswer, "DescribeStream: \(error)")
            }
            status = page.status
            shards += page.shards
            start = page.lastEvaluatedShardID
        } while start != nil
        return (status, shards)
    }

    private func iterator(_ arn: String, shard: String, start: StreamsRequest.IteratorStart) async throws(Failure)
        -> String
    {
        guard
            let answer = try await call(
                .getShardIterator, StreamsRequest.getShardIterator(arn, shard: shard, start: start),
                missing: .streamDisabled)
        else { throw .lost(.streamDisabled) }
        do {
            return try StreamsRequest.shardIterator(in: answer.body)
        } catch {
            throw .failed(.invalidAnswer, "GetShardIterator: \(error)")
        }
    }

    private func records(_ iterator: String) async throws(Failure) -> (StreamRecordsPage, Int) {
        guard
            let answer = try await call(
                .getRecords, StreamsRequest.getRecords(iterator, limit: configuration.recordLimit),
                missing: .streamDisabled)
        else { throw .lost(.streamDisabled) }
        do {
            return (try StreamRecordsPage(parsing: answer.body), answer.body.readableBytes)
        } catch {
            throw .failed(.invalidAnswer, "GetRecords: \(error)")
        }
    }

    /// Sends a call and sorts its failures; nil when the table or stream does not exist and `missing` is nil
    /// (a lost place otherwise).
    private func call(_ operation: StreamsOperation, _ body: ByteBuffer, missing: StreamLossCause?)
        async throws(Failure) -> StreamsAnswer?
    {
        let answer: StreamsAnswer
        do {
            answer = try await api.send(operation, body: body)
        } catch {
            switch error.kind {
            case .noCredentials: throw .failed(.noCredentials, error.description)
            case .transport: throw .failed(.transport, "\(operation.rawValue): \(error.description)")
            }
        }
        if (200..<300).contains(answer.status) { return answer }
        let code = UpstreamErrorCode.code(in: answer.body)
        switch code {
        case "ResourceNotFoundException":
            if let missing { throw .lost(missing) }
            return nil
        case "TrimmedDataAccessException": throw .lost(.trimmed)
        case "ExpiredIteratorException": throw .lost(.expiredIterator)
        case "LimitExceededException", "ProvisionedThroughputExceededException", "ThrottlingException",
            "RequestLimitExceeded":
            throw .failed(.throttled, "\(operation.rawValue): \(code!)")
        default:
            let what = code ?? "HTTP \(answer.status)"
            throw .failed(answer.status >= 500 ? .serverError : .refused, "\(operation.rawValue): \(what)")
        }
    }
}
