import NIOCore

/// The members of a PutItem request that the cache needs.
package struct PutItemRequest: Hashable, Sendable {
    package var tableName: String
    package var item: AttributeMap

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        (tableName, item) = try object.withJSON { json throws(WireError) in
            let members = object.members
            return (try json.tableName(of: members), try json.item("Item", of: members))
        }
    }
}
