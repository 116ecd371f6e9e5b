import Benchmark
import DynamoWire
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Proxy
import Synchronization

// The proxy's in-process hit path: DynamoProxy.handle for a request whose answer is in memory, from the
// request head and body to the composed response (no sockets, no HTTP framing). Each benchmark sends 10,000
// requests per iteration; every one must be answered from memory. This target is compiled into the root
// package's `package` scope (see Package.swift), so it drives the proxy through its `package` API.

/// A storage server that answers at once, as DynamoDB would: DescribeTable with the key schema, GetItem with an
/// item of ~400 bytes for any key, Query with `itemsPerPartition` items of the partition asked. Used only on the
/// thread that created the EmbeddedEventLoop, during setup.
final class FakeDynamoDB: StorageServer {
    static let itemsPerPartition = 10

    func execute(_ request: StorageRequest, on eventLoop: any EventLoop) -> EventLoopFuture<StorageResponse> {
        let target = request.head.headers.first(name: "x-amz-target") ?? ""
        let body: String
        switch target {
        case "DynamoDB_20120810.DescribeTable":
            let table = try! JSONObject(parsing: request.body).tableName()!
            body = table == "users" ? Self.describe(table, hash: "id") : Self.describe(table, hash: "pk", range: "sk")
        case "DynamoDB_20120810.GetItem":
            let request = try! GetItemRequest(parsing: request.body)
            if request.tableName == "gone" { return Self.notFound(on: eventLoop) }
            guard case .s(let id) = request.key.attributes["id"] else { preconditionFailure("unexpected key") }
            body = #"{"Item":"# + Self.user(id) + "}"
        case "DynamoDB_20120810.Query":
            let object = try! JSONObject(parsing: request.body)
            let values = try! object.member("ExpressionAttributeValues")!
            let map = try! AttributeMap(
                parsing: object.body.getSlice(
                    at: object.body.readerIndex + values.range.lowerBound,
                    length: values.range.count
                )!
            )
            guard case .s(let partition) = map[":pk"] else { preconditionFailure("unexpected key condition") }
            let items = (0..<Self.itemsPerPartition).map { Self.order(partition, $0) }
            body =
                #"{"Items":["# + items.joined(separator: ",") + #"],"Count":\#(items.count),"#
                + #""ScannedCount":\#(items.count)}"#
        default:
            preconditionFailure("unexpected operation \(target)")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        headers.add(name: "x-amzn-RequestId", value: UUID().uuidString)
        headers.add(name: "x-amz-crc32", value: String(CRC32.checksum(ByteBuffer(string: body))))
        return eventLoop.makeSucceededFuture(
            StorageResponse(
                head: HTTPResponseHead(version: .http1_1, status: .ok, headers: headers),
                body: ByteBuffer(string: body)
            )
        )
    }

    /// DynamoDB's answer for a table that does not exist.
    static func notFound(on eventLoop: any EventLoop) -> EventLoopFuture<StorageResponse> {
        let body = ByteBuffer(
            string: #"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","#
                + #""message":"Requested resource not found"}"#)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        headers.add(name: "x-amz-crc32", value: String(CRC32.checksum(body)))
        return eventLoop.makeSucceededFuture(
            StorageResponse(
                head: HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers), body: body)
        )
    }

    static func describe(_ table: String, hash: String, range: String? = nil) -> String {
        let schema =
            #"{"AttributeName":"\#(hash)","KeyType":"HASH"}"#
            + (range.map { #",{"AttributeName":"\#($0)","KeyType":"RANGE"}"# } ?? "")
        return #"{"Table":{"TableName":"\#(table)","KeySchema":[\#(schema)],"TableStatus":"ACTIVE"}}"#
    }

    /// ~400 bytes.
    static func user(_ id: String) -> String {
        #"{"id":{"S":"\#(id)"},"name":{"S":"Ada Lovelace"},"email":{"S":"ada@example.com"},"#
            + #""visits":{"N":"1842"},"active":{"BOOL":true},"tags":{"SS":["admin","beta","early"]},"#
            + #""address":{"M":{"city":{"S":"London"},"street":{"S":"12 St James's Square"},"zip":{"S":"SW1Y 4JH"}}},"#
            + #""bio":{"S":"\#(String(repeating: "x", count: 160))"}}"#
    }

    /// ~400 bytes.
    static func order(_ partition: String, _ index: Int) -> String {
        #"{"pk":{"S":"\#(partition)"},"sk":{"S":"order#2026-01-\#(10 + index)"},"total":{"N":"129.95"},"#
            + #""status":{"S":"SHIPPED"},"lines":{"L":[{"M":{"sku":{"S":"A-1001"},"qty":{"N":"2"}}},"#
            + #"{"M":{"sku":{"S":"B-2002"},"qty":{"N":"1"}}}]},"#
            + #""note":{"S":"\#(String(repeating: "y", count: 200))"}}"#
    }
}

let authorization =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, "
    + "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef"

/// A request as the data plane hands it to the proxy, with the headers an SDK sends.
func request(_ operation: String, _ body: String) -> ProxyRequest {
    var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
    head.headers.add(name: "Host", value: "127.0.0.1:9000")
    head.headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
    head.headers.add(name: "X-Amz-Target", value: "DynamoDB_20120810.\(operation)")
    head.headers.add(name: "X-Amz-Date", value: "20260101T000000Z")
    head.headers.add(name: "Authorization", value: authorization)
    head.headers.add(name: "Content-Length", value: String(body.utf8.count))
    return ProxyRequest(head: head, body: ByteBuffer(string: body))
}

let keyCount = 1_000
let getItemRequests = (0..<keyCount).map { index in
    request("GetItem", #"{"TableName":"users","Key":{"id":{"S":"user-\#(index)"}}}"#)
}
let queryRequest = request(
    "Query",
    #"{"TableName":"orders","KeyConditionExpression":"pk = :pk","#
        + #""ExpressionAttributeValues":{":pk":{"S":"customer#0042"}}}"#
)

/// The proxy over the fake DynamoDB, its key schemas learnt (DescribeTable) and one miss sent for every key and
/// for the Query, so that every entry is cached. The EmbeddedEventLoop is used only here, on this thread: hits
/// answer `.immediate` and never touch it.
struct Warmed {
    let proxy: DynamoProxy
    let loop: EmbeddedEventLoop
}

func warmedProxy() -> Warmed {
    let loop = EmbeddedEventLoop()
    let proxy = DynamoProxy(
        storage: FakeDynamoDB(),
        configuration: ProxyConfiguration(),
        logger: Logger(label: "hit-path-benchmarks", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    func miss(_ request: ProxyRequest) {
        guard case .deferred(let future) = proxy.handle(request, on: loop) else {
            preconditionFailure("the first request must go to the storage server")
        }
        loop.run()
        precondition(try! future.wait().status == .ok)
    }
    miss(request("DescribeTable", #"{"TableName":"users"}"#))
    miss(request("DescribeTable", #"{"TableName":"orders"}"#))
    for request in getItemRequests { miss(request) }
    miss(queryRequest)
    return Warmed(proxy: proxy, loop: loop)
}

/// The proxy over the fake DynamoDB with `entries` items of `users` cached (~660 MB for 1,000,000), for misses
/// measured against a large cache.
func proxyHolding(entries: Int) -> Warmed {
    let loop = EmbeddedEventLoop()
    let proxy = DynamoProxy(
        storage: FakeDynamoDB(),
        configuration: ProxyConfiguration(itemCacheBytes: 2 << 30),
        logger: Logger(label: "hit-path-benchmarks", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    _ = answer(proxy.handle(request("DescribeTable", #"{"TableName":"users"}"#), on: loop), loop: loop)
    for index in 0..<entries {
        let get = request("GetItem", #"{"TableName":"users","Key":{"id":{"S":"cached-\#(index)"}}}"#)
        precondition(answer(proxy.handle(get, on: loop), loop: loop).cacheStatus == .miss)
    }
    precondition(proxy.itemCacheStats().entries == entries)
    return Warmed(proxy: proxy, loop: loop)
}

/// A key never requested before in this process (benchmark runs repeat their iteration numbers).
func nextKey() -> Int {
    keyCounter.wrappingAdd(1, ordering: .relaxed).oldValue
}
let keyCounter = Atomic<Int>(0)

/// The answer of a request that went to the (in-process) storage server.
func answer(_ outcome: ProxyOutcome, loop: EmbeddedEventLoop) -> ProxyResponse {
    guard case .deferred(let future) = outcome else { preconditionFailure("expected a request to the server") }
    loop.run()
    return try! future.wait()
}

/// Zipf(0.99) ranks over the keys, precomputed so that the benchmark measures the proxy, not the sampler.
func zipfSequence(count: Int, theta: Double = 0.99) -> [Int] {
    var cumulative: [Double] = []
    cumulative.reserveCapacity(keyCount)
    var total = 0.0
    for rank in 1...keyCount {
        total += 1 / pow(Double(rank), theta)
        cumulative.append(total)
    }
    var state: UInt64 = 42
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let target = Double(state >> 11) / Double(1 << 53) * total
        var low = 0
        var high = keyCount - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] < target { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// The response of a hit; stops the run on anything else.
@inline(__always)
func hit(_ outcome: ProxyOutcome) -> ProxyResponse {
    guard case .immediate(let response) = outcome, response.cacheStatus == .hit else {
        preconditionFailure("expected a cache hit")
    }
    return response
}

// Names carry no spaces: package-benchmark writes threshold files with spaces replaced but reads them without.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    let sequence = zipfSequence(count: 10_000)

    Benchmark("getitem-hit-zipf-1k-keys-10k") { benchmark, warmed in
        let requests = getItemRequests
        for _ in benchmark.scaledIterations {
            for index in sequence { blackHole(hit(warmed.proxy.handle(requests[index], on: warmed.loop))) }
        }
    } setup: {
        warmedProxy()
    }

    // Misses against a cache of 1,000,000 items: a key never seen, and a key of a table that does not exist,
    // whose ResourceNotFoundException forgets the table. Dropping a table is O(1), so the second must cost no
    // more than the first: it once walked every cached entry.
    let cachedEntries = 1_000_000
    Benchmark("getitem-miss-1m-entries-1k", configuration: .init(maxDuration: .seconds(5), maxIterations: 20)) {
        benchmark, warmed in
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 {
                let get = request("GetItem", #"{"TableName":"users","Key":{"id":{"S":"new-\#(nextKey())"}}}"#)
                blackHole(answer(warmed.proxy.handle(get, on: warmed.loop), loop: warmed.loop))
            }
        }
    } setup: {
        proxyHolding(entries: cachedEntries)
    }

    Benchmark(
        "getitem-missing-table-1m-entries-1k", configuration: .init(maxDuration: .seconds(5), maxIterations: 20)
    ) { benchmark, warmed in
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 {
                let get = request("GetItem", #"{"TableName":"gone","Key":{"id":{"S":"new-\#(nextKey())"}}}"#)
                let response = answer(warmed.proxy.handle(get, on: warmed.loop), loop: warmed.loop)
                precondition(response.status == .badRequest)
            }
        }
        precondition(warmed.proxy.itemCacheStats().entries == cachedEntries, "the cached items stay in memory")
    } setup: {
        proxyHolding(entries: cachedEntries)
    }

    // A Query of one partition (10 items, ~4.5 KB answer).
    Benchmark("query-hit-one-partition-10k") { benchmark, warmed in
        let request = queryRequest
        for _ in benchmark.scaledIterations {
            for _ in 0..<10_000 { blackHole(hit(warmed.proxy.handle(request, on: warmed.loop))) }
        }
    } setup: {
        warmedProxy()
    }
}
