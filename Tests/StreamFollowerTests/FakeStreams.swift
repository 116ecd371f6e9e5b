import DynamoWire
import Foundation
import NIOCore
import StreamFollower
import Synchronization

/// A DynamoDB Streams server of our own, in process, for what moto_server's streams never do: shards that
/// close and split, trimmed records, expired iterators, throttling, a stream disabled or replaced.
final class FakeStreams: StreamsAPI, Sendable {
    struct Shard {
        var id: String
        var parent: String?
        var records: [StreamRecord] = []
        var closed = false
        /// Records before this index were trimmed.
        var trimmed = 0
    }

    struct State {
        var keyAttributes = ["pk"]
        var stream: (arn: String, view: StreamViewType)? = ("arn:stream/1", .newAndOldImages)
        var shards: [Shard] = [Shard(id: "shard-1")]
        var iterators: [String: (shard: String, position: Int)] = [:]
        var expired: Set<String> = []
        /// Error codes to answer, once each, to the next calls of an operation.
        var failures: [StreamsOperation: [String]] = [:]
        var calls: [String] = []
        /// Shards DescribeStream does not list yet (a child appears a moment after its parent closes).
        var unlisted: Set<String> = []
        var tableExists = true
        var nextIterator = 0
        var nextSequence = 100
    }

    let state = Mutex(State())

    /// Appends a record for `key` (value `v`) to the open shard `shard`.
    func write(_ key: String, _ value: Int, shard: String = "shard-1", at seconds: Double = 0) {
        state.withLock { state in
            state.nextSequence += 1
            let record = StreamRecord(
                event: .modify, keys: ["pk": .s(key)], newImage: ["pk": .s(key), "v": .n(String(value))],
                sequenceNumber: String(state.nextSequence), approximateCreation: seconds)
            let index = state.shards.firstIndex { $0.id == shard }!
            precondition(!state.shards[index].closed)
            state.shards[index].records.append(record)
        }
    }

    /// Closes `shard` and opens `children` descending from it.
    func split(_ shard: String, into children: [String]) {
        state.withLock { state in
            state.shards[state.shards.firstIndex { $0.id == shard }!].closed = true
            for child in children { state.shards.append(Shard(id: child, parent: shard)) }
        }
    }

    func fail(_ operation: StreamsOperation, with code: String, times: Int = 1) {
        state.withLock { $0.failures[operation, default: []] += Array(repeating: code, count: times) }
    }

    /// Expires every iterator handed out so far.
    func expireIterators() {
        state.withLock { $0.expired.formUnion($0.iterators.keys) }
    }

    func trim(_ shard: String, before index: Int) {
        state.withLock { $0.shards[$0.shards.firstIndex { $0.id == shard }!].trimmed = index }
    }

    var calls: [String] { state.withLock { $0.calls } }

    func send(_ operation: StreamsOperation, body: ByteBuffer) async throws(StreamsCallError) -> StreamsAnswer {
        let request = try! JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as! [String: Any]
        return state.withLock { state in
            state.calls.append(String(operation.rawValue.split(separator: ".").last!))
            if let code = state.failures[operation]?.first {
                state.failures[operation]!.removeFirst()
                return Self.error(code)
            }
            switch operation {
            case .describeTable:
                guard state.tableExists else { return Self.error("ResourceNotFoundException") }
                var table: [String: Any] = [
                    "TableName": request["TableName"]!,
                    "KeySchema": state.keyAttributes.enumerated().map { index, name in
                        ["AttributeName": name, "KeyType": index == 0 ? "HASH" : "RANGE"]
                    },
                ]
                if let stream = state.stream {
                    table["StreamSpecification"] = ["StreamEnabled": true, "StreamViewType": stream.view.rawValue]
                    table["LatestStreamArn"] = stream.arn
                }
                return Self.answer(["Table": table])
            case .describeStream:
                guard let stream = state.stream, request["StreamArn"] as? String == stream.arn else {
                    return Self.error("ResourceNotFoundException")
                }
                // Two shards per page, to exercise paging.
                let listed = state.shards.filter { !state.unlisted.contains($0.id) }
                let start =
                    (request["ExclusiveStartShardId"] as? String).flatMap { id in
                        listed.firstIndex { $0.id == id }.map { $0 + 1 }
                    } ?? 0
                let page = Array(listed[start..<min(start + 2, listed.count)])
                var description: [String: Any] = [
                    "StreamStatus": "ENABLED",
                    "Shards": page.map { shard -> [String: Any] in
                        var range: [String: Any] = ["StartingSequenceNumber": "1"]
                        if shard.closed { range["EndingSequenceNumber"] = shard.records.last?.sequenceNumber ?? "1" }
                        var entry: [String: Any] = ["ShardId": shard.id, "SequenceNumberRange": range]
                        if let parent = shard.parent { entry["ParentShardId"] = parent }
                        return entry
                    },
                ]
                if start + 2 < listed.count { description["LastEvaluatedShardId"] = page.last!.id }
                return Self.answer(["StreamDescription": description])
            case .getShardIterator:
                guard let stream = state.stream, request["StreamArn"] as? String == stream.arn,
                    let shard = state.shards.first(where: { $0.id == request["ShardId"] as? String })
                else { return Self.error("ResourceNotFoundException") }
                let position: Int
                switch request["ShardIteratorType"] as! String {
                case "LATEST": position = shard.records.count
                case "TRIM_HORIZON": position = shard.trimmed
                default:
                    let after = request["SequenceNumber"] as! String
                    guard let index = shard.records.firstIndex(where: { $0.sequenceNumber == after }) else {
                        return Self.error("ValidationException")
                    }
                    guard index >= shard.trimmed else { return Self.error("TrimmedDataAccessException") }
                    position = index + 1
                }
                return Self.answer(["ShardIterator": Self.iterator(&state, shard.id, position)])
            case .getRecords:
                let token = request["ShardIterator"] as! String
                guard !state.expired.contains(token) else { return Self.error("ExpiredIteratorException") }
                guard let (id, position) = state.iterators[token] else { return Self.error("ValidationException") }
                guard let shard = state.shards.first(where: { $0.id == id }) else {
                    return Self.error("ResourceNotFoundException")
                }
                guard position >= shard.trimmed else { return Self.error("TrimmedDataAccessException") }
                let limit = request["Limit"] as? Int ?? 1000
                let end = min(position + limit, shard.records.count)
                let records = shard.records[position..<end].map(Self.json)
                var answer: [String: Any] = ["Records": records]
                if !(shard.closed && end == shard.records.count) {
                    answer["NextShardIterator"] = Self.iterator(&state, id, end)
                }
                return Self.answer(answer)
            }
        }
    }

    private static func iterator(_ state: inout State, _ shard: String, _ position: Int) -> String {
        state.nextIterator += 1
        let token = "it-\(state.nextIterator)"
        state.iterators[token] = (shard, position)
        return token
    }

    private static func json(_ record: StreamRecord) -> [String: Any] {
        func map(_ attributes: AttributeMap) -> Any {
            var buffer = ByteBuffer()
            attributes.encode(into: &buffer)
            return try! JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
        }
        var change: [String: Any] = [
            "Keys": map(record.keys), "SequenceNumber": record.sequenceNumber,
            "ApproximateCreationDateTime": record.approximateCreation,
        ]
        if let image = record.newImage { change["NewImage"] = map(image) }
        return ["eventName": record.event.rawValue, "dynamodb": change]
    }

    private static func answer(_ object: [String: Any]) -> StreamsAnswer {
        StreamsAnswer(
            status: 200, body: ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object)))
    }

    private static func error(_ code: String) -> StreamsAnswer {
        let status = code == "InternalServerError" ? 500 : 400
        return StreamsAnswer(
            status: status,
            body: ByteBuffer(string: #"{"__type":"com.amazonaws.dynamodb.v20120810#\#(code)","message":"fake"}"#))
    }
}

/// What the follower told the caches, in order.
final class RecordingDelegate: StreamFollowerDelegate, Sendable {
    enum Event: Equatable {
        case notFollowed
        case positioned(keys: [String], view: StreamViewType)
        /// The values of the records' `v`, in order.
        case records([Int])
        case current(UInt64)
        case lost
        case missing
    }

    let events = Mutex<[Event]>([])

    func notFollowed(_ table: String) { events.withLock { $0.append(.notFollowed) } }

    func positioned(_ table: String, keyAttributes: [String], viewType: StreamViewType, at: UInt64) {
        events.withLock { $0.append(.positioned(keys: keyAttributes, view: viewType)) }
    }

    func apply(_ records: [StreamRecord], table: String, viewType: StreamViewType) -> Int {
        let values = records.map { record -> Int in
            guard case .n(let text)? = record.newImage?["v"] else { return -1 }
            return Int(text)!
        }
        events.withLock { $0.append(.records(values)) }
        return 0
    }

    func current(_ table: String, asOf: UInt64) { events.withLock { $0.append(.current(asOf)) } }

    func lost(_ table: String) { events.withLock { $0.append(.lost) } }

    func missing(_ table: String) { events.withLock { $0.append(.missing) } }

    /// Every record value handed over, in order.
    var values: [Int] {
        events.withLock { events in
            events.flatMap { event -> [Int] in
                if case .records(let values) = event { return values }
                return []
            }
        }
    }

    func count(where predicate: (Event) -> Bool) -> Int { events.withLock { $0.filter(predicate).count } }

    func clear() { events.withLock { $0.removeAll() } }
}
