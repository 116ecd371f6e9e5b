import NIOCore

/// The members of a BatchGetItem request that the cache needs; tables are the keys of `RequestItems`.
///
/// The body and the byte ranges of its parts are kept, so that the request sent to the storage server for the
/// keys the cache does not hold, and the `UnprocessedKeys` of the client's answer, are spliced from the bytes the
/// client sent.
package struct BatchGetItemRequest: Hashable, Sendable {
    /// The keys requested from one table and how to read them.
    package struct Table: Hashable, Sendable {
        /// Normalised (`TableName.normalized`).
        package var tableName: String
        package var keys: [PrimaryKey]
        package var consistentRead: Bool
        package var projection: Projection
        /// The raw name as sent, between its quotes.
        var nameRange: Range<Int>
        /// The members of the table's request object, in body order.
        var members: [JSONMember]
        /// The ranges of the elements of `Keys`, parallel to `keys`.
        var keyRanges: [Range<Int>]
    }

    /// In body order.
    package var tables: [Table]
    package var returnConsumedCapacity: String?
    /// The body the ranges refer to.
    let body: ByteBuffer
    /// Its top-level members.
    let members: [JSONMember]

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        body = object.body
        members = object.members
        (tables, returnConsumedCapacity) = try object.withJSON { json throws(WireError) in
            let members = object.members
            let requestItems = try json.required(json.member("RequestItems", of: members), field: "RequestItems")
            try json.expect(requestItems, .object, field: "RequestItems")
            var tables: [Table] = []
            var names: Set<String> = []
            for table in json.members(of: requestItems) {
                try json.expect(table.value, .object, field: "RequestItems")
                let sentName = json.decodeString(contents: table.name)
                guard names.insert(sentName).inserted else {
                    throw .invalidField(field: "RequestItems", reason: .duplicate)
                }
                let fields = Array(json.members(of: table.value))
                let keysValue = try json.required(json.member("Keys", of: fields), field: "Keys")
                try json.expect(keysValue, .array, field: "Keys")
                var keys: [PrimaryKey] = []
                var keyRanges: [Range<Int>] = []
                for key in json.elements(of: keysValue) {
                    keys.append(try PrimaryKey(json.attributeMap(key, field: "Keys"), field: "Keys"))
                    keyRanges.append(key.range)
                }
                guard !keys.isEmpty else { throw .invalidField(field: "Keys", reason: .empty) }
                tables.append(
                    Table(
                        tableName: TableName.normalized(sentName),
                        keys: keys,
                        consistentRead: try json.bool(
                            json.member("ConsistentRead", of: fields), field: "ConsistentRead")
                            ?? false,
                        projection: try json.projection(of: fields),
                        nameRange: table.name,
                        members: fields,
                        keyRanges: keyRanges
                    )
                )
            }
            guard !tables.isEmpty else { throw .invalidField(field: "RequestItems", reason: .empty) }
            let capacity = try json.string(
                json.member("ReturnConsumedCapacity", of: members),
                field: "ReturnConsumedCapacity"
            )
            return (tables, capacity)
        }
    }

    /// The index in `tables` of the table an answer names `name`, compared normalised; the first if several match.
    package func tableIndex(named name: String) -> Int? {
        let normalized = TableName.normalized(name)
        return tables.firstIndex { $0.tableName == normalized }
    }

    /// The request for the storage server: per table (`keeping` is indexed like `tables`, then like its `keys`)
    /// only the keys flagged true, tables left without keys omitted; for the tables in `fullItemTables` the
    /// projection members (ProjectionExpression, ExpressionAttributeNames, AttributesToGet) removed, so that whole
    /// items come back for the cache. Everything else (ConsistentRead, ReturnConsumedCapacity, ...) is spliced as
    /// the client sent it. nil when no key is kept.
    package func upstreamBody(
        keeping: [[Bool]],
        fullItemTables: Set<Int>,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer? {
        let kept = tables.indices.filter { index in
            index < keeping.count && keeping[index].contains(true)
        }
        guard !kept.isEmpty else { return nil }
        var output = allocator.buffer(capacity: body.readableBytes)
        body.withUnsafeReadableBytes { bytes in
            let json = ValidatedJSON(bytes: bytes)
            var first = true
            output.writeStaticString("{")
            for member in members {
                guard json.name(member.name, equals: "RequestItems") else {
                    JSONWriter.writeRawMember(member, of: bytes, first: &first, into: &output)
                    continue
                }
                if !first { output.writeStaticString(",") }
                first = false
                output.writeStaticString(#""RequestItems":{"#)
                for (position, index) in kept.enumerated() {
                    if position > 0 { output.writeStaticString(",") }
                    let table = tables[index]
                    let flags = keeping[index]
                    writeTable(table, json: json, into: &output) { json, member in
                        if json.name(member.name, equals: "Keys") {
                            let keys = table.keyRanges.indices.filter { $0 < flags.count && flags[$0] }
                            return .keys(keys.map { table.keyRanges[$0] })
                        }
                        if fullItemTables.contains(index) && Self.isProjectionMember(member, json) { return .drop }
                        return .keep
                    }
                }
                output.writeStaticString("}")
            }
            output.writeStaticString("}")
        }
        return output
    }

    /// What `writeTable` does with one member of a table's request.
    enum MemberEdit {
        case keep
        case drop
        /// `Keys`, with these elements of the request body.
        case keys([Range<Int>])
        /// `Keys`, with these elements from elsewhere (an answer's unprocessed keys).
        case keyBuffers([ByteBuffer])
    }

    /// Writes `"name":{members}` for `table`, with its name and members spliced from `json` (the request body)
    /// as edited by `edit`.
    func writeTable(
        _ table: Table,
        json: ValidatedJSON,
        into output: inout ByteBuffer,
        edit: (ValidatedJSON, JSONMember) -> MemberEdit
    ) {
        let bytes = json.bytes
        JSONWriter.writeRaw(bytes, table.nameRange.lowerBound - 1..<table.nameRange.upperBound + 1, into: &output)
        output.writeStaticString(":{")
        var first = true
        for member in table.members {
            switch edit(json, member) {
            case .keep:
                JSONWriter.writeRawMember(member, of: bytes, first: &first, into: &output)
            case .drop:
                break
            case .keys(let ranges):
                Self.writeKeys(ranges.count, first: &first, into: &output) { index, output in
                    JSONWriter.writeRaw(bytes, ranges[index], into: &output)
                }
            case .keyBuffers(let buffers):
                Self.writeKeys(buffers.count, first: &first, into: &output) { index, output in
                    var buffer = buffers[index]
                    output.writeBuffer(&buffer)
                }
            }
        }
        output.writeStaticString("}")
    }

    /// Writes the member `"Keys":[...]` with `count` elements that `writeKey` writes.
    private static func writeKeys(
        _ count: Int,
        first: inout Bool,
        into output: inout ByteBuffer,
        _ writeKey: (Int, inout ByteBuffer) -> Void
    ) {
        if !first { output.writeStaticString(",") }
        first = false
        output.writeStaticString(#""Keys":["#)
        for index in 0..<count {
            if index > 0 { output.writeStaticString(",") }
            writeKey(index, &output)
        }
        output.writeStaticString("]")
    }

    private static func isProjectionMember(_ member: JSONMember, _ json: ValidatedJSON) -> Bool {
        json.name(member.name, equals: "ProjectionExpression")
            || json.name(member.name, equals: "ExpressionAttributeNames")
            || json.name(member.name, equals: "AttributesToGet")
    }
}
