import Foundation
import NIOCore
import NIOPosix

/// Whether `bench` creates and loads its table.
package enum PrepareMode: String, Sendable, CaseIterable {
    /// Create the table if it is missing; load it unless its marker item says it already holds this dataset.
    case auto
    /// Create if missing and always load.
    case always
    /// Use the table as it is.
    case never
}

/// Sends single signed requests and returns whole answers: for preparing the table, not for measuring.
struct SingleRequestClient: Sendable {
    let target: BenchTarget
    let signer: SigV4Signer
    let eventLoop: any EventLoop
    let timeout: TimeAmount

    func send(_ operation: String, _ body: String) async throws -> (status: Int, body: String) {
        var encoder = RequestEncoder(target: target, signer: signer)
        let request = encoder.encode(
            BenchRequest(operation: operation, body: Array(body.utf8)), allocator: ByteBufferAllocator())
        let promise = eventLoop.makePromise(of: ParsedResponse.self)
        let channel = try await ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SingleResponseHandler(promise: promise))
                }
            }
            .connect(host: target.host, port: target.port).get()
        channel.writeAndFlush(request, promise: nil)
        let timer = eventLoop.scheduleTask(in: timeout) {
            promise.fail(BenchError.preparation("\(operation) to \(target.url) timed out"))
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        let response = try await promise.futureResult.get()
        return (response.status, response.body.map { String(buffer: $0) } ?? "")
    }
}

private final class SingleResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let promise: EventLoopPromise<ParsedResponse>
    private var parser = ResponseParser(keepAllBodies: true)
    private var pending = ByteBuffer()

    init(promise: EventLoopPromise<ParsedResponse>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        do {
            if let response = try parser.next(&pending) { promise.succeed(response) }
        } catch {
            promise.fail(BenchError.preparation("malformed HTTP response"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let response = parser.finishAtClose() { promise.succeed(response) }
        promise.fail(BenchError.preparation("connection closed before an answer"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}

/// Creates the benchmark table and loads its items through one target.
///
/// A marker item (`pk = "__meta"`) records the dataset loaded, so a later run with the same sizes reuses the
/// table instead of loading it again.
struct TablePreparer {
    let client: SingleRequestClient
    let dataset: Dataset
    let log: @Sendable (String) -> Void

    func prepare(mode: PrepareMode) async throws {
        guard mode != .never else { return }
        let table = dataset.table
        let (status, body) = try await client.send("DescribeTable", #"{"TableName":"\#(table)"}"#)
        if status == 400, body.contains("ResourceNotFoundException") {
            try await create()
        } else if status != 200 {
            throw BenchError.preparation("DescribeTable answered \(status): \(body)")
        } else if mode == .auto, try await markerMatches() {
            log("table \(table) already holds \(dataset.items) items of \(dataset.itemBytes) bytes")
            return
        }
        try await load()
    }

    private func create() async throws {
        let request = #"""
            {"TableName":"\#(dataset.table)","BillingMode":"PAY_PER_REQUEST",\#
            "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},\#
            {"AttributeName":"sk","AttributeType":"N"}],\#
            "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]}
            """#
        let (status, body) = try await client.send("CreateTable", request)
        guard status == 200 || body.contains("ResourceInUseException") else {
            throw BenchError.preparation("CreateTable answered \(status): \(body)")
        }
        for _ in 0..<600 {
            let (_, description) = try await client.send("DescribeTable", #"{"TableName":"\#(dataset.table)"}"#)
            let object = try? JSONSerialization.jsonObject(with: Data(description.utf8)) as? [String: Any]
            if (object?["Table"] as? [String: Any])?["TableStatus"] as? String == "ACTIVE" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError.preparation("table \(dataset.table) did not become ACTIVE within a minute")
    }

    private var markerKey: String { #"{"pk":{"S":"__meta"},"sk":{"N":"0"}}"# }

    private var markerItem: String {
        #"{"pk":{"S":"__meta"},"sk":{"N":"0"},"items":{"N":"\#(dataset.items)"},"#
            + #""itemBytes":{"N":"\#(dataset.itemBytes)"},"partitionSize":{"N":"\#(dataset.partitionSize)"}}"#
    }

    private func markerMatches() async throws -> Bool {
        let (status, body) = try await client.send(
            "GetItem", #"{"TableName":"\#(dataset.table)","Key":\#(markerKey),"ConsistentRead":true}"#)
        guard status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let item = object["Item"] as? [String: Any]
        else { return false }
        func number(_ name: String) -> Int? { ((item[name] as? [String: Any])?["N"] as? String).flatMap { Int($0) } }
        return number("items") == dataset.items && number("itemBytes") == dataset.itemBytes
            && number("partitionSize") == dataset.partitionSize
    }

    /// Loads every item with BatchWriteItem, 25 at a time over four concurrent requests, retrying what the
    /// server leaves unprocessed; the marker is written last, so an interrupted load is redone next time.
    private func load() async throws {
        log("loading \(dataset.items) items of \(dataset.itemBytes) bytes into \(dataset.table)")
        let batches = stride(from: 0, to: dataset.items, by: 25).map { $0..<min($0 + 25, dataset.items) }
        let next = SharedCursor(start: 0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    while true {
                        let index = next.next()
                        guard index < batches.count else { return }
                        let puts = batches[index].map {
                            #"{"PutRequest":{"Item":\#(dataset.itemJSON(item: $0, stamp: 0))}}"#
                        }
                        try await writeBatch(puts)
                    }
                }
            }
            try await group.waitForAll()
        }
        let (status, body) = try await client.send(
            "PutItem", #"{"TableName":"\#(dataset.table)","Item":\#(markerItem)}"#)
        guard status == 200 else { throw BenchError.preparation("PutItem of the marker answered \(status): \(body)") }
    }

    private func writeBatch(_ puts: [String]) async throws {
        var body = #"{"RequestItems":{"\#(dataset.table)":[\#(puts.joined(separator: ","))]}}"#
        for attempt in 0..<20 {
            let (status, answer) = try await client.send("BatchWriteItem", body)
            if status != 200 {
                guard answer.contains("Throttling") || answer.contains("ProvisionedThroughputExceeded") || status >= 500
                else { throw BenchError.preparation("BatchWriteItem answered \(status): \(answer)") }
            } else {
                guard let object = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any],
                    let unprocessed = object["UnprocessedItems"] as? [String: Any], !unprocessed.isEmpty
                else { return }
                let data = try JSONSerialization.data(withJSONObject: ["RequestItems": unprocessed])
                body = String(decoding: data, as: UTF8.self)
            }
            try await Task.sleep(for: .milliseconds(min(1000, 20 << attempt)))
        }
        throw BenchError.preparation("BatchWriteItem kept failing after 20 attempts")
    }
}
