import Benchmark
import DynamoWire
import NIOCore

// The DynamoDB wire work of the proxy's hot path, step by step, as DynamoProxy does it (Sources/Proxy): each
// benchmark repeats one step 10,000 times per iteration. This target is compiled into the root package's
// `package` scope (see Package.swift), so it calls DynamoWire's `package` API directly.

let getItemBody = ByteBuffer(
    string: #"{"TableName":"users","Key":{"pk":{"S":"user#000123"},"sk":{"S":"profile"}},"ConsistentRead":false}"#
)

let queryBody = ByteBuffer(
    string: #"{"TableName":"orders","KeyConditionExpression":"pk = :pk AND begins_with(sk, :prefix)","#
        + #""ExpressionAttributeValues":{":pk":{"S":"customer#0042"},":prefix":{"S":"order#2026"}},"#
        + #""ScanIndexForward":false,"Limit":25}"#
)

/// A stored GetItem answer of ~400 bytes, as the item cache keeps it, and where its item lies.
let storedAnswer: (body: ByteBuffer, itemRange: Range<Int>) = {
    let body = ByteBuffer(
        string: #"{"Item":{"pk":{"S":"user#000123"},"sk":{"S":"profile"},"name":{"S":"Ada Lovelace"},"#
            + #""email":{"S":"ada@example.com"},"visits":{"N":"1842"},"active":{"BOOL":true},"#
            + #""tags":{"SS":["admin","beta","early"]},"address":{"M":{"city":{"S":"London"},"#
            + #""street":{"S":"12 St James's Square"},"zip":{"S":"SW1Y 4JH"}}},"#
            + #""bio":{"S":"\#(String(repeating: "x", count: 160))"}}}"#
    )
    let parsed = try! GetItemResponse(parsing: body)
    return (body, parsed.itemRange!)
}()

/// ~1 KB, the size of a small Query page.
let kilobyteBody = ByteBuffer(bytes: (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })

/// What DynamoProxy.getItem reads from a GetItem body before it looks in the cache: the validated body, the
/// request with its canonical key, the consumed-capacity check and the projection plan.
@inline(never)
func parseGetItem(_ body: ByteBuffer) -> (GetItemRequest, ProjectionPlan) {
    let request = try! GetItemRequest(JSONObject(parsing: body))
    guard !request.consistentRead, ConsumedCapacityRequest.isValid(request.returnConsumedCapacity),
        let plan = ProjectionPlan(request.projection)
    else { preconditionFailure("the body must be cacheable") }
    return (request, plan)
}

/// What DynamoProxy.queryOrScan reads from a Query body before it looks in the cache: the validated body, the
/// table read, the consumed-capacity check, the canonical form (the cache key) and the hashes of the partitions
/// the key condition pins (DynamoProxy.queriedPartitions).
@inline(never)
func parseQuery(_ body: ByteBuffer) -> (TableReadRequest, [UInt8], [UInt64]) {
    let object = try! JSONObject(parsing: body)
    let read = try! TableReadRequest(object)
    let capacity = try! object.string(named: "ReturnConsumedCapacity")
    guard !read.consistentRead, ConsumedCapacityRequest.isValid(capacity),
        let canonical = CanonicalJSON.encode(object, excluding: ["ReturnConsumedCapacity"]),
        let expression = try! object.string(named: "KeyConditionExpression"),
        let placeholders = KeyCondition.equalityPlaceholders(in: expression),
        let values = try! object.member("ExpressionAttributeValues"),
        let map = try? AttributeMap(
            parsing: object.body.getSlice(
                at: object.body.readerIndex + values.range.lowerBound,
                length: values.range.count
            )!
        )
    else { preconditionFailure("the body must be cacheable") }
    var hashes: [UInt64] = []
    for placeholder in placeholders {
        guard let value = map[placeholder], let hash = KeyValueHash.of(value) else {
            preconditionFailure("the key condition must pin a partition")
        }
        hashes.append(hash)
    }
    return (read, canonical, hashes)
}

// Names carry no spaces: package-benchmark writes threshold files with spaces replaced but reads them without.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    let allocator = ByteBufferAllocator()

    Benchmark("getitem-request-parse-10k") { benchmark in
        let body = getItemBody
        for _ in benchmark.scaledIterations {
            for _ in 0..<10_000 { blackHole(parseGetItem(body)) }
        }
    }

    Benchmark("query-request-parse-10k") { benchmark in
        let body = queryBody
        for _ in benchmark.scaledIterations {
            for _ in 0..<10_000 { blackHole(parseQuery(body)) }
        }
    }

    // A hit without projection or consumed capacity sends the stored body and checksum as they are; with
    // ReturnConsumedCapacity the answer is composed around the stored item (DynamoProxy.answer(from:...)).
    Benchmark("getitem-hit-compose-consumed-capacity-10k") { benchmark in
        let capacity = ConsumedCapacityRequest(returnConsumedCapacity: "TOTAL", tableName: "users")
        let (stored, range) = storedAnswer
        for _ in benchmark.scaledIterations {
            for _ in 0..<10_000 {
                let item = stored.getSlice(at: range.lowerBound, length: range.count)
                blackHole(GetItemResponse.compose(itemJSON: item, consumedCapacity: capacity, allocator: allocator))
            }
        }
    }

    // A projected hit: the projection applied to the stored item's bytes, then composed.
    Benchmark("getitem-hit-compose-projected-10k") { benchmark in
        let request = try! GetItemRequest(
            parsing: ByteBuffer(
                string: ##"{"TableName":"users","Key":{"pk":{"S":"user#000123"},"sk":{"S":"profile"}},"##
                    + ##""ProjectionExpression":"#n, email, address.city","ExpressionAttributeNames":{"#n":"name"}}"##
            )
        )
        let plan = ProjectionPlan(request.projection)!
        let (stored, range) = storedAnswer
        for _ in benchmark.scaledIterations {
            for _ in 0..<10_000 {
                let item = stored.getSlice(at: range.lowerBound, length: range.count)!
                let projected = plan.apply(toItemJSON: item, allocator: allocator)
                blackHole(GetItemResponse.compose(itemJSON: projected, consumedCapacity: nil, allocator: allocator))
            }
        }
    }

    Benchmark("crc32-1kb-10k") { benchmark in
        let body = kilobyteBody
        for _ in benchmark.scaledIterations {
            for _ in 0..<10_000 { blackHole(CRC32.checksum(body)) }
        }
    }
}
