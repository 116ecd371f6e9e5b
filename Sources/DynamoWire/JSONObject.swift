import NIOCore

/// A request body validated as JSON whose top level is an object, with the byte ranges of its members.
///
/// No tree is built: the validating pass records where each top-level member's name and value lie, and nested
/// values are read lazily from the same bytes when a request type asks for them.
package struct JSONObject: Sendable {
    /// The whole body; member ranges are offsets from its reader index.
    package let body: ByteBuffer
    /// The top-level members, in body order.
    package let members: [JSONMember]

    /// Validates `body` (size, JSON grammar, UTF-8, depth) and requires an object at the top level.
    package init(parsing body: ByteBuffer) throws(WireError) {
        guard body.readableBytes <= JSONReader.maximumBodySize else {
            throw .bodyTooLarge(size: body.readableBytes)
        }
        var members: [JSONMember] = []
        // Request bodies have a handful of top-level members; one allocation covers them.
        members.reserveCapacity(8)
        let root = try body.withUnsafeReadableBytes { bytes throws(WireError) in
            try JSONReader.validate(bytes, topLevelMembers: &members)
        }
        guard root.kind == .object else { throw .notAnObject }
        self.body = body
        self.members = members
    }

    /// Runs `body` with navigation over the validated bytes.
    func withJSON<T>(_ body: (ValidatedJSON) throws(WireError) -> T) throws(WireError) -> T {
        try self.body.withUnsafeReadableBytes { bytes throws(WireError) in try body(ValidatedJSON(bytes: bytes)) }
    }

    /// The value of the top-level member `name`; nil when it is absent or null. A repeated member is an error,
    /// because DynamoDB and the proxy could otherwise read different values.
    package func member(_ name: StaticString) throws(WireError) -> JSONValue? {
        try withJSON { json throws(WireError) in try json.member(name, of: members) }
    }

    /// The decoded text of a string value of this body.
    package func string(_ value: JSONValue) -> String {
        body.withUnsafeReadableBytes { ValidatedJSON(bytes: $0).string(value) }
    }

    /// The string value of the top-level member `name`; nil when absent or null; an error when it is not a string.
    package func string(named name: StaticString) throws(WireError) -> String? {
        try withJSON { json throws(WireError) in
            try json.string(json.member(name, of: members), field: name.description)
        }
    }

    /// The `TableName` member that most operations carry, normalised (`TableName.normalized`); nil when absent.
    /// BatchGetItem and BatchWriteItem name their tables as keys of `RequestItems` instead (see their request
    /// types).
    package func tableName() throws(WireError) -> String? {
        try withJSON { json throws(WireError) in
            try json.string(json.member("TableName", of: members), field: "TableName").map(TableName.normalized)
        }
    }
}
