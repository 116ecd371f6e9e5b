import NIOCore

/// The members of a GetItem request that the cache needs.
package struct GetItemRequest: Hashable, Sendable {
    package var tableName: String
    package var key: PrimaryKey
    package var consistentRead: Bool
    package var projection: Projection
    package var returnConsumedCapacity: String?

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        self = try object.withJSON { json throws(WireError) in
            let members = object.members
            return GetItemRequest(
                tableName: try json.tableName(of: members),
                key: try json.primaryKey("Key", of: members),
                consistentRead: try json.bool(json.member("ConsistentRead", of: members), field: "ConsistentRead")
                    ?? false,
                projection: try json.projection(of: members),
                returnConsumedCapacity: try json.string(
                    json.member("ReturnConsumedCapacity", of: members),
                    field: "ReturnConsumedCapacity"
                )
            )
        }
    }

    package init(
        tableName: String,
        key: PrimaryKey,
        consistentRead: Bool = false,
        projection: Projection = Projection(),
        returnConsumedCapacity: String? = nil
    ) {
        self.tableName = tableName
        self.key = key
        self.consistentRead = consistentRead
        self.projection = projection
        self.returnConsumedCapacity = returnConsumedCapacity
    }
}
