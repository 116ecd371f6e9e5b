import NIOCore

/// A BatchWriteItem answer from the storage server: the writes it did not process.
package struct BatchWriteItemResponse: Sendable {
    /// `UnprocessedItems`, per table in body order; empty when everything was written. Table names are
    /// normalised (`TableName.normalized`).
    package var unprocessed: [(tableName: String, puts: [AttributeMap], deletes: [PrimaryKey])]

    /// Validates an upstream BatchWriteItem body and reads its unprocessed items.
    package init(parsing body: ByteBuffer) throws(WireError) {
        let object = try JSONObject(parsing: body)
        unprocessed = try object.withJSON { json throws(WireError) in
            guard let value = try json.member("UnprocessedItems", of: object.members) else { return [] }
            return try json.batchWriteTables(value, field: "UnprocessedItems").map {
                ($0.tableName, $0.puts, $0.deletes)
            }
        }
    }
}
