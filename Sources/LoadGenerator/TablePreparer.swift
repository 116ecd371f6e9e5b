import AWSAuth
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Upstream

/// Whether `bench` creates and loads its table.
package enum PrepareMode: String, Sendable, CaseIterable {
    /// Create the table if it is missing; load it unless its marker item says it already holds this dataset.
    case auto
    /// Create if missing and always load.
    case always
    /// Use the table as it is.
    case never
}

/// Sends signed requests through the proxy's own storage-server client and returns whole answers: for preparing
/// the table, not for measuring.
struct PreparationClient: Sendable {
    let client: UpstreamClient
    let eventLoop: any EventLoop
    private let encoder: NIOLockedValueBox<RequestEncoder>

    init(target: BenchTarget, signer: SigV4Signer, group: any EventLoopGroup, timeout: TimeAmount) {
        client = UpstreamClient(
            configuration: UpstreamConfiguration(
                host: target.host, port: target.port, tls: target.tls, connectTimeout: timeout,
                responseTimeout: timeout),
            group: group,
            logger: Logger(label: "dynamo-cache.bench")
        )
        eventLoop = group.next()
        encoder = NIOLockedValueBox(RequestEncoder(target: target, signer: signer))
    }

    func send(_ operation: String, _ body: String) async throws -> (status: Int, body: String) {
        let request = BenchRequest(operation: operation, body: Array(body.utf8))
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
        for (name, value) in encoder.withLockedValue({ $0.headers(for: request) }) {
            head.headers.add(name: name, value: value)
        }
        let response = try await client.execute(
            UpstreamRequest(head: head, body: ByteBuffer(bytes: request.body)), on: eventLoop
        ).get()
        return (Int(response.head.status.code), String(buffer: response.body))
    }
}

/// Creates the benchmark table and loads its items through one target.
///
/// A marker item (`pk = "__meta"`) records the dataset loaded, so a later run with the same sizes reuses the
/// table instead of loading it again.
struct TablePreparer {
    let client: PreparationClient
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
