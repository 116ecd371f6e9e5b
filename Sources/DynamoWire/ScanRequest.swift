import NIOCore

/// The members of a Scan request that the cache needs.
package struct ScanRequest: Hashable, Sendable {
    package var tableName: String
    /// The secondary index scanned; nil for the table itself.
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
