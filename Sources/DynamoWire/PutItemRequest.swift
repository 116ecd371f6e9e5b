import NIOCore

/// The members of a PutItem request that the cache needs.
package struct PutItemRequest: Hashable, Sendable {
    package var tableName: String
    package var item: AttributeMap
    package var returnValues: String?
    /// Whether the write is conditional (`ConditionExpression` or `Expected`): it may then change nothing.
    package var hasCondition: Bool

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        (tableName, item, returnValues, hasCondition) = try object.withJSON { json throws(WireError) in
            let members = object.members
            return (
                try json.tableName(of: members),
                try json.item("Item", of: members),
                try json.string(json.member("ReturnValues", of: members), field: "ReturnValues"),
                try json.hasCondition(members)
            )
        }
    }
}
