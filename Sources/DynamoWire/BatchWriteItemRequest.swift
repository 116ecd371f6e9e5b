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
            try json.expect(requestItems, .object, field: "RequestItems")
            var tables: [Table] = []
            var names: Set<String> = []
            for table in json.members(of: requestItems) {
                let tableName = json.decodeString(contents: table.name)
                guard names.insert(tableName).inserted else {
                    throw .invalidField(field: "RequestItems", reason: .duplicate)
                }
                try json.expect(table.value, .array, field: "RequestItems")
                var writes = Table(tableName: tableName, puts: [], deletes: [])
                for request in json.elements(of: table.value) {
                    try json.expect(request, .object, field: "RequestItems")
                    let fields = json.members(of: request)
                    let put = try json.member("PutRequest", of: fields)
                    let delete = try json.member("DeleteRequest", of: fields)
                    switch (put, delete) {
                    case (let put?, nil):
                        try json.expect(put, .object, field: "PutRequest")
                        writes.puts.append(try json.item("Item", of: json.members(of: put)))
                    case (nil, let delete?):
                        try json.expect(delete, .object, field: "DeleteRequest")
                        writes.deletes.append(try json.primaryKey("Key", of: json.members(of: delete)))
                    default:
                        throw .invalidField(
                            field: "RequestItems", reason: .exactlyOneOf(["PutRequest", "DeleteRequest"]))
                    }
                }
                guard !(writes.puts.isEmpty && writes.deletes.isEmpty) else {
                    throw .invalidField(field: "RequestItems", reason: .empty)
                }
                tables.append(writes)
            }
            guard !tables.isEmpty else { throw .invalidField(field: "RequestItems", reason: .empty) }
            return tables
        }
    }
}
