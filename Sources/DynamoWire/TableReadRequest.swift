import NIOCore

/// The members of a Query or Scan request that the cache needs: both read a table or one of its indexes.
package struct TableReadRequest: Hashable, Sendable {
    package var tableName: String
    /// The secondary index read; nil for the table itself.
    package var indexName: String?
    package var consistentRead: Bool

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        (tableName, indexName, consistentRead) = try object.withJSON { json throws(WireError) in
            try json.readTarget(of: object.members)
        }
    }
}

extension ValidatedJSON {
    /// TableName, IndexName and ConsistentRead.
    func readTarget(
        of members: [JSONMember]
    ) throws(WireError) -> (tableName: String, indexName: String?, consistentRead: Bool) {
        (
            try tableName(of: members),
            try string(member("IndexName", of: members), field: "IndexName"),
            try bool(member("ConsistentRead", of: members), field: "ConsistentRead") ?? false
        )
    }
}
