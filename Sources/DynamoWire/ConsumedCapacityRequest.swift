import NIOCore

/// What a client asked for with `ReturnConsumedCapacity`, for answers the proxy composes from its cache.
package struct ConsumedCapacityRequest: Hashable, Sendable {
    package var tableName: String
    /// INDEXES: the per-table breakdown (`Table`) is added to the total.
    package var indexes: Bool

    /// nil when nothing is to be reported: the member is absent, NONE, or a value DynamoDB would reject (check
    /// that with `isValid` first: such a request is forwarded for DynamoDB to reject).
    package init?(returnConsumedCapacity: String?, tableName: String) {
        switch returnConsumedCapacity {
        case "TOTAL": indexes = false
        case "INDEXES": indexes = true
        default: return nil
        }
        self.tableName = tableName
    }

    /// Whether `returnConsumedCapacity` asks for a report (TOTAL or INDEXES).
    package static func isReported(_ returnConsumedCapacity: String?) -> Bool {
        returnConsumedCapacity == "TOTAL" || returnConsumedCapacity == "INDEXES"
    }

    /// Whether DynamoDB accepts `returnConsumedCapacity` (absent, NONE, TOTAL or INDEXES; case-sensitive).
    package static func isValid(_ returnConsumedCapacity: String?) -> Bool {
        switch returnConsumedCapacity {
        case nil, "NONE", "TOTAL", "INDEXES": true
        default: false
        }
    }

    /// Writes `{"TableName":"t","CapacityUnits":0.0}`, with `"Table":{"CapacityUnits":0.0}` for INDEXES: a cache
    /// hit consumes no capacity.
    package func encodeZero(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"TableName":"#)
        JSONWriter.writeString(tableName, into: &buffer)
        buffer.writeStaticString(#","CapacityUnits":0.0"#)
        if indexes { buffer.writeStaticString(#","Table":{"CapacityUnits":0.0}"#) }
        buffer.writeStaticString("}")
    }
}
