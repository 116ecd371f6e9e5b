import NIOCore

/// The members of a BatchGetItem request that the cache needs; tables are the keys of `RequestItems`.
package struct BatchGetItemRequest: Hashable, Sendable {
    /// The keys requested from one table and how to read them.
    package struct Table: Hashable, Sendable {
        package var tableName: String
        package var keys: [PrimaryKey]
        package var consistentRead: Bool
        package var projection: Projection
    }

    /// In body order.
    package var tables: [Table]
    package var returnConsumedCapacity: String?

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        (tables, returnConsumedCapacity) = try object.withJSON { json throws(WireError) in
            let members = object.members
            let requestItems = try json.required(json.member("RequestItems", of: members), field: "RequestItems")
            try json.expect(requestItems, .object, field: "RequestItems")
            var tables: [Table] = []
            var names: Set<String> = []
            for table in json.members(of: requestItems) {
                try json.expect(table.value, .object, field: "RequestItems")
                let tableName = json.decodeString(contents: table.name)
                guard names.insert(tableName).inserted else {
                    throw .invalidField(field: "RequestItems", reason: .duplicate)
                }
                let fields = json.members(of: table.value)
                let keysValue = try json.required(json.member("Keys", of: fields), field: "Keys")
                try json.expect(keysValue, .array, field: "Keys")
                var keys: [PrimaryKey] = []
                for key in json.elements(of: keysValue) {
                    keys.append(try PrimaryKey(json.attributeMap(key, field: "Keys"), field: "Keys"))
                }
                guard !keys.isEmpty else { throw .invalidField(field: "Keys", reason: .empty) }
                tables.append(
                    Table(
                        tableName: tableName,
                        keys: keys,
                        consistentRead: try json.bool(
                            json.member("ConsistentRead", of: fields), field: "ConsistentRead")
                            ?? false,
                        projection: try json.projection(of: fields)
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
}
