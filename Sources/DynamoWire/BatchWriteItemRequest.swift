import NIOCore

/// The members of a BatchWriteItem request that the cache needs; tables are the keys of `RequestItems`.
package struct BatchWriteItemRequest: Hashable, Sendable {
    /// The writes to one table.
    package struct Table: Hashable, Sendable {
        package var tableName: String
        /// Items of the `PutRequest`s, in body order.
        package var puts: [AttributeMap]
        /// Keys of the `DeleteRequest`s, in body order.
        package var deletes: [PrimaryKey]
    }

    /// In body order.
    package var tables: [Table]

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        tables = try object.withJSON { json throws(WireError) in
            let requestItems = try json.required(
                json.member("RequestItems", of: object.members),
                field: "RequestItems"
            )
            let tables = try json.batchWriteTables(requestItems, field: "RequestItems")
            guard !tables.isEmpty else { throw .invalidField(field: "RequestItems", reason: .empty) }
            return tables
        }
    }
}

extension ValidatedJSON {
    /// The tables of a BatchWriteItem `RequestItems` object, or of an answer's `UnprocessedItems`, which has the
    /// same shape. Table names are normalised; a name repeated as sent is an error.
    func batchWriteTables(_ value: JSONValue, field: String) throws(WireError) -> [BatchWriteItemRequest.Table] {
        try expect(value, .object, field: field)
        var tables: [BatchWriteItemRequest.Table] = []
        var names: Set<String> = []
        for table in members(of: value) {
            let sentName = decodeString(contents: table.name)
            guard names.insert(sentName).inserted else { throw .invalidField(field: field, reason: .duplicate) }
            try expect(table.value, .array, field: field)
            var writes = BatchWriteItemRequest.Table(
                tableName: TableName.normalized(sentName),
                puts: [],
                deletes: []
            )
            for request in elements(of: table.value) {
                try expect(request, .object, field: field)
                let fields = members(of: request)
                let put = try member("PutRequest", of: fields)
                let delete = try member("DeleteRequest", of: fields)
                switch (put, delete) {
                case (let put?, nil):
                    try expect(put, .object, field: "PutRequest")
                    writes.puts.append(try item("Item", of: members(of: put)))
                case (nil, let delete?):
                    try expect(delete, .object, field: "DeleteRequest")
                    writes.deletes.append(try primaryKey("Key", of: members(of: delete)))
                default:
                    throw .invalidField(field: field, reason: .exactlyOneOf(["PutRequest", "DeleteRequest"]))
                }
            }
            guard !(writes.puts.isEmpty && writes.deletes.isEmpty) else {
                throw .invalidField(field: field, reason: .empty)
            }
            tables.append(writes)
        }
        return tables
    }
}
