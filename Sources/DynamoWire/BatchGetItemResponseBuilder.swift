import NIOCore

/// Composes the client's BatchGetItem answer from items of the cache and the storage server's answer.
///
/// The answer has a `Responses` entry for every table of the request (`[]` when none of its items exists, as
/// DynamoDB and moto answer), `UnprocessedKeys` always (`{}` when empty) with each table's request as the client
/// sent it (projection, names, ConsistentRead) and `Keys` replaced by the unprocessed ones, so that a client that
/// retries them gets what it asked for; and, when the client asked, `ConsumedCapacity`: the storage server's
/// entries as sent plus a zero-unit entry for each table answered only from the cache. Stored and upstream item
/// bytes are copied as they are.
package struct BatchGetItemResponseBuilder {
    /// An item of the answer.
    private enum Item {
        /// Item JSON to copy.
        case json(ByteBuffer)
        /// An item to encode (projected from a stored one).
        case map(AttributeMap)
    }

    package let request: BatchGetItemRequest
    /// Per request table.
    private var items: [[Item]]
    /// Per request table: the unprocessed keys' JSON.
    private var unprocessedKeys: [[ByteBuffer]]
    /// The storage server's `ConsumedCapacity` elements.
    private var upstreamCapacity: [ByteBuffer] = []
    /// The (normalised) tables those elements name.
    private var upstreamCapacityTables: Set<String> = []

    package init(request: BatchGetItemRequest) {
        self.request = request
        items = Array(repeating: [], count: request.tables.count)
        unprocessedKeys = Array(repeating: [], count: request.tables.count)
    }

    /// Adds an item of `request.tables[table]` from its JSON (an attribute map), e.g. as stored in the cache.
    package mutating func addItem(json: ByteBuffer, table: Int) {
        items[table].append(.json(json))
    }

    /// Adds an item of `request.tables[table]` to encode, e.g. a projection of a stored one.
    package mutating func addItem(_ item: AttributeMap, table: Int) {
        items[table].append(.map(item))
    }

    /// Adds the storage server's answer to a body from `BatchGetItemRequest.upstreamBody`: its items as sent,
    /// except for the tables in `fullItemTables`, whose items are whole and which the caller projects and adds
    /// itself; its unprocessed keys; its consumed capacity. Tables that the request does not name are ignored.
    package mutating func addUpstream(_ response: BatchGetItemResponse, fullItemTables: Set<Int>) {
        for (position, table) in response.responses.enumerated() {
            guard let index = request.tableIndex(named: table.tableName), !fullItemTables.contains(index) else {
                continue
            }
            items[index].append(contentsOf: response.itemRanges[position].map { .json(response.slice($0)) })
        }
        for (position, table) in response.unprocessedKeys.enumerated() {
            guard let index = request.tableIndex(named: table.tableName) else { continue }
            unprocessedKeys[index].append(contentsOf: response.unprocessedKeyRanges[position].map(response.slice))
        }
        for element in response.consumedCapacity {
            upstreamCapacity.append(response.slice(element.range))
            if let tableName = element.tableName { upstreamCapacityTables.insert(tableName) }
        }
    }

    /// The answer's body.
    package func compose(allocator: ByteBufferAllocator) -> ByteBuffer {
        var size = request.body.readableBytes + 64
        for table in items {
            for item in table {
                if case .json(let json) = item { size += json.readableBytes + 1 } else { size += 256 }
            }
        }
        var output = allocator.buffer(capacity: size)
        request.body.withUnsafeReadableBytes { bytes in
            let json = ValidatedJSON(bytes: bytes)
            output.writeStaticString(#"{"Responses":{"#)
            for (index, table) in request.tables.enumerated() {
                if index > 0 { output.writeStaticString(",") }
                JSONWriter.writeRaw(
                    bytes, table.nameRange.lowerBound - 1..<table.nameRange.upperBound + 1, into: &output)
                output.writeStaticString(":[")
                for (position, item) in items[index].enumerated() {
                    if position > 0 { output.writeStaticString(",") }
                    switch item {
                    case .json(var json): output.writeBuffer(&json)
                    case .map(let map): map.encode(into: &output)
                    }
                }
                output.writeStaticString("]")
            }
            output.writeStaticString(#"},"UnprocessedKeys":{"#)
            var first = true
            for (index, table) in request.tables.enumerated() where !unprocessedKeys[index].isEmpty {
                if !first { output.writeStaticString(",") }
                first = false
                request.writeTable(table, json: json, into: &output) { json, member in
                    json.name(member.name, equals: "Keys") ? .keyBuffers(unprocessedKeys[index]) : .keep
                }
            }
            output.writeStaticString("}")
        }
        writeConsumedCapacity(into: &output)
        output.writeStaticString("}")
        return output
    }

    /// `,"ConsumedCapacity":[...]` when the client asked for it (TOTAL or INDEXES).
    private func writeConsumedCapacity(into output: inout ByteBuffer) {
        guard ConsumedCapacityRequest.isReported(request.returnConsumedCapacity) else { return }
        output.writeStaticString(#","ConsumedCapacity":["#)
        var first = true
        for var element in upstreamCapacity {
            if !first { output.writeStaticString(",") }
            first = false
            output.writeBuffer(&element)
        }
        for table in request.tables where !upstreamCapacityTables.contains(table.tableName) {
            guard
                let zero = ConsumedCapacityRequest(
                    returnConsumedCapacity: request.returnConsumedCapacity,
                    tableName: table.tableName
                )
            else { continue }
            if !first { output.writeStaticString(",") }
            first = false
            zero.encodeZero(into: &output)
        }
        output.writeStaticString("]")
    }
}
