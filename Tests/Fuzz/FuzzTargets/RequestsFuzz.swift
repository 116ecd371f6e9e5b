import DynamoWire
import NIOCore

/// Every request parser the proxy uses, and every parser of the storage server's answers it reads, fed the same
/// bytes; then what the proxy builds from a parsed request: the BatchGetItem body it sends upstream and the answer
/// it composes, the UpdateItem it rewrites, the GetItem answer of a hit.
///
/// Invariants checked, besides not crashing: a body reads the same whatever its buffer's reader index; the byte
/// ranges a parser reports hold what it parsed there; and every body the proxy composes parses back to what it
/// was composed from.
package enum RequestsFuzz {
    package static func run(_ bytes: UnsafeRawBufferPointer) {
        let body = FuzzInput.buffer(bytes)
        let shifted = FuzzInput.offsetBuffer(bytes)
        let choices = FuzzInput.hash(bytes)

        if let request = same(body, shifted, GetItemRequest.init(parsing:)) { getItem(request) }
        if let request = same(body, shifted, BatchGetItemRequest.init(parsing:)) { batchGetItem(request, choices) }
        if let request = same(body, shifted, PutItemRequest.init(parsing:)) {
            _ = request.item.isInStoredForm
            _ = request.item.primaryKey(named: request.item.entries.prefix(2).map(\.name))
        }
        if let request = same(body, shifted, KeyedWriteRequest.init(parsing:)) { keyedWrite(request, body) }
        _ = same(body, shifted, BatchWriteItemRequest.init(parsing:))
        _ = same(body, shifted, TransactWriteItemsRequest.init(parsing:))
        _ = same(body, shifted, TableReadRequest.init(parsing:))
        for operation in [DynamoOperation.executeStatement, .batchExecuteStatement, .executeTransaction, .getItem] {
            if let request = same(body, shifted, { try PartiQLRequest(parsing: $0, operation: operation) }) {
                for statement in request.statements { _ = PartiQLStatement(statement) }
            }
        }
        for operation in [DynamoOperation.createTable, .restoreTableToPointInTime, .importTable, .query] {
            _ = same(body, shifted, { try TableDefinitionRequest(parsing: $0, operation: operation) })
        }

        let object = try? JSONObject(parsing: body)
        let shiftedObject = try? JSONObject(parsing: shifted)
        if let object {
            queryKey(object)
            _ = CanonicalJSON.encode(object, excluding: ["ReturnConsumedCapacity"])
        }
        for target in scopeTargets {
            let scope = RequestScope(target: target, object: object)
            invariant(
                RequestScope(target: target, object: shiftedObject) == scope,
                "the reader index changes a RequestScope")
        }

        responses(body, shifted)
    }

    /// The X-Amz-Target values whose scopes are read differently (every case of `RequestScope.init`), plus ones
    /// it knows nothing of.
    static let scopeTargets: [String?] =
        [
            "GetItem", "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems", "ExecuteStatement",
            "BatchExecuteStatement", "ExecuteTransaction", "TagResource", "ExportTableToPointInTime",
            "DescribeBackup", "DescribeExport", "DescribeImport", "ListExports", "RestoreTableFromBackup",
            "RestoreTableToPointInTime", "ImportTable", "UpdateGlobalTable", "ListTables", "ListBackups",
            "UpdateTimeToLive",
        ].map { "DynamoDB_20120810." + $0 }
        + ["DescribeStream", "ListStreams", "GetRecords", "ListShards"].map { "DynamoDBStreams_20120810." + $0 }
        + ["Kinesis_20131202.ListStreams", nil]

    /// `parse` of both buffers, which must agree; nil when the body does not parse.
    private static func same<T: Equatable>(
        _ body: ByteBuffer,
        _ shifted: ByteBuffer,
        _ parse: (ByteBuffer) throws -> T
    ) -> T? {
        let value = try? parse(body)
        invariant((try? parse(shifted)) == value, "the reader index changes what \(T.self) reads")
        return value
    }

    /// A hit's answer, composed from an item (here the key) or from its stored bytes, reads back as that item.
    private static func getItem(_ request: GetItemRequest) {
        _ = ProjectionPlan(request.projection)
        let capacity = ConsumedCapacityRequest(
            returnConsumedCapacity: request.returnConsumedCapacity, tableName: request.tableName)
        let item = request.key.attributes
        let composed = GetItemResponse.compose(item: item, consumedCapacity: capacity, allocator: FuzzInput.allocator)
        guard let answer = try? GetItemResponse(parsing: composed) else {
            invariant(false, "GetItemResponse.compose(item:) wrote an answer that does not parse")
            return
        }
        invariant(answer.item == item, "a composed GetItem answer reads back as another item")
        var itemJSON = ByteBuffer()
        item.encode(into: &itemJSON)
        let copied = GetItemResponse.compose(
            itemJSON: itemJSON, consumedCapacity: capacity, allocator: FuzzInput.allocator)
        invariant((try? GetItemResponse(parsing: copied))?.item == item, "compose(itemJSON:) changed the item")
        let absent = GetItemResponse.compose(item: nil, consumedCapacity: capacity, allocator: FuzzInput.allocator)
        invariant((try? GetItemResponse(parsing: absent)).map { $0.item == nil } == true, "an absent item is not {}")
    }

    /// The body sent upstream for some of the keys, and the answer composed for the client, read back as what
    /// they were made from; the unprocessed keys of that answer, sent again as an SDK retries them, read as the
    /// same request.
    private static func batchGetItem(_ request: BatchGetItemRequest, _ choices: UInt64) {
        // Which keys the cache "holds" and which tables it fetches whole, from bits of the input's hash.
        var bit = 0
        func choose() -> Bool {
            bit += 1
            return choices >> UInt64(bit % 64) & 1 == 1
        }
        let keeping = request.tables.map { table in table.keys.map { _ in choose() } }
        let fullItemTables = Set(request.tables.indices.filter { _ in choose() })
        let upstream = request.upstreamBody(
            keeping: keeping, fullItemTables: fullItemTables, allocator: FuzzInput.allocator)
        let kept = request.tables.indices.filter { keeping[$0].contains(true) }
        invariant((upstream == nil) == kept.isEmpty, "upstreamBody is nil exactly when no key is kept")
        if let upstream {
            guard let sent = try? BatchGetItemRequest(parsing: upstream) else {
                invariant(false, "upstreamBody wrote a request that does not parse")
                return
            }
            invariant(sent.tables.count == kept.count, "upstreamBody sent another number of tables")
            for (table, index) in zip(sent.tables, kept) {
                let original = request.tables[index]
                let keys = zip(original.keys, keeping[index]).filter(\.1).map(\.0)
                invariant(table.tableName == original.tableName, "upstreamBody renamed a table")
                invariant(table.keys == keys, "upstreamBody sent other keys than those kept")
                invariant(table.consistentRead == original.consistentRead, "upstreamBody changed ConsistentRead")
                let projection = fullItemTables.contains(index) ? Projection() : original.projection
                invariant(table.projection == projection, "upstreamBody changed a projection")
            }
            invariant(sent.returnConsumedCapacity == request.returnConsumedCapacity, "upstreamBody changed capacity")
        }

        // The answer: each table's keys as its items, and every key once more as unprocessed, from an upstream
        // answer composed the way the storage server writes one.
        var builder = BatchGetItemResponseBuilder(request: request)
        for (index, table) in request.tables.enumerated() {
            for key in table.keys { builder.addItem(key.attributes, table: index) }
        }
        let names = request.tables.map(\.tableName)
        // Tables that normalise to one name share their upstream answer: `tableIndex(named:)` takes the first.
        let distinct = Set(names).count == names.count
        if distinct {
            var answer = #"{"UnprocessedKeys":{"#
            for (index, table) in request.tables.enumerated() {
                var keys = ByteBuffer()
                for (position, key) in table.keys.enumerated() {
                    if position > 0 { keys.writeStaticString(",") }
                    key.attributes.encode(into: &keys)
                }
                answer += (index > 0 ? "," : "") + JSONWriter.quoted(table.tableName)
                answer += #":{"Keys":["# + String(buffer: keys) + "]}"
            }
            answer += "}}"
            guard let parsed = try? BatchGetItemResponse(parsing: FuzzInput.buffer(answer)) else {
                invariant(false, "the harness wrote an upstream answer that does not parse")
                return
            }
            builder.addUpstream(parsed, fullItemTables: [])
        }
        let composed = builder.compose(allocator: FuzzInput.allocator)
        guard let response = try? BatchGetItemResponse(parsing: composed) else {
            invariant(false, "BatchGetItemResponseBuilder wrote an answer that does not parse")
            return
        }
        invariant(response.responses.count == request.tables.count, "the answer lists another number of tables")
        for (answered, table) in zip(response.responses, request.tables) {
            invariant(answered.items == table.keys.map(\.attributes), "the answer holds other items than added")
        }
        guard distinct else { return }
        invariant(response.unprocessedKeys.count == request.tables.count, "unprocessed tables went missing")
        let unprocessed = composed.withUnsafeReadableBytes { bytes -> ByteBuffer? in
            guard let object = try? JSONObject(parsing: composed), let value = try? object.member("UnprocessedKeys")
            else { return nil }
            var retry = ByteBuffer(string: #"{"RequestItems":"#)
            retry.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[value.range]))
            retry.writeStaticString("}")
            return retry
        }
        guard let unprocessed, let retried = try? BatchGetItemRequest(parsing: unprocessed) else {
            invariant(false, "the answer's UnprocessedKeys are not a BatchGetItem request")
            return
        }
        for (again, table) in zip(retried.tables, request.tables) {
            invariant(again.tableName == table.tableName, "an unprocessed table was renamed")
            invariant(again.keys == table.keys, "the unprocessed keys are not those the storage server named")
            invariant(again.projection == table.projection, "a retried table lost its projection")
            invariant(again.consistentRead == table.consistentRead, "a retried table lost ConsistentRead")
        }
    }

    /// The UpdateItem the proxy sends instead (ReturnValues ALL_NEW) is the same request otherwise.
    private static func keyedWrite(_ request: KeyedWriteRequest, _ body: ByteBuffer) {
        guard let object = try? JSONObject(parsing: body) else { return }
        let rewritten = KeyedWriteRequest.askingForAllNew(object, allocator: FuzzInput.allocator)
        guard let again = try? KeyedWriteRequest(parsing: rewritten) else {
            invariant(false, "askingForAllNew wrote a request that does not parse")
            return
        }
        invariant(again.tableName == request.tableName && again.key == request.key, "askingForAllNew changed the key")
        invariant(again.returnValues == "ALL_NEW", "askingForAllNew did not ask for ALL_NEW")
    }

    /// What the query cache reads of a Query: the partitions its key condition pins (`QueryCache.queriedPartitions`,
    /// which is internal, does the same steps).
    private static func queryKey(_ object: JSONObject) {
        guard let expression = (try? object.string(named: "KeyConditionExpression")).flatMap({ $0 }),
            let placeholders = KeyCondition.equalityPlaceholders(in: expression),
            let values = (try? object.member("ExpressionAttributeValues")).flatMap({ $0 })
        else { return }
        let slice = object.body.getSlice(
            at: object.body.readerIndex + values.range.lowerBound, length: values.range.count)!
        guard let map = try? AttributeMap(parsing: slice) else { return }
        for placeholder in placeholders {
            if let value = map[placeholder] { _ = KeyValueHash.of(value) }
        }
    }

    /// The storage server's answers the proxy and the stream follower read.
    private static func responses(_ body: ByteBuffer, _ shifted: ByteBuffer) {
        for buffer in [body, shifted] {
            if let answer = try? GetItemResponse(parsing: buffer) {
                invariant((answer.item == nil) == (answer.itemRange == nil), "an item without its range")
                if let range = answer.itemRange {
                    invariant(item(in: buffer, range) == answer.item, "GetItemResponse.itemRange holds another item")
                }
            }
            if let answer = try? UpdateItemResponse(parsing: buffer), let range = answer.attributesRange {
                invariant(item(in: buffer, range) == answer.attributes, "attributesRange holds other attributes")
            }
            if let answer = try? BatchGetItemResponse(parsing: buffer) {
                for (table, ranges) in zip(answer.responses, answer.itemRanges) {
                    invariant(table.items == ranges.map { item(in: answer.slice($0)) }, "itemRanges hold other items")
                }
                for (table, ranges) in zip(answer.unprocessedKeys, answer.unprocessedKeyRanges) {
                    let keys = ranges.map { item(in: answer.slice($0)) }
                    invariant(table.keys.map(\.attributes) == keys, "unprocessedKeyRanges hold other keys")
                }
                if let range = answer.consumedCapacityRange {
                    let slice = answer.slice(range)
                    var members: [JSONMember] = []
                    let value = slice.withUnsafeReadableBytes {
                        try? JSONReader.validate($0, topLevelMembers: &members)
                    }
                    invariant(value?.kind == .array, "consumedCapacityRange holds no array")
                }
            }
        }
        _ = try? BatchWriteItemResponse(parsing: body)
        _ = same(body, shifted, TableDescriptionKeySchema.init(parsing:))
        _ = same(body, shifted, TableStreamDescription.init(parsing:))
        _ = same(body, shifted, StreamDescription.init(parsing:))
        _ = same(body, shifted, StreamRecordsPage.init(parsing:))
        _ = same(body, shifted, StreamsRequest.shardIterator(in:))
        _ = UpstreamErrorCode.code(in: body)
    }

    /// The attribute map at `range` (offsets from the reader index) of `buffer`.
    private static func item(in buffer: ByteBuffer, _ range: Range<Int>) -> AttributeMap? {
        item(in: buffer.getSlice(at: buffer.readerIndex + range.lowerBound, length: range.count)!)
    }

    private static func item(in buffer: ByteBuffer) -> AttributeMap? {
        try? AttributeMap(parsing: buffer)
    }
}
