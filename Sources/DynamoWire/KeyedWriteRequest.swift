import NIOCore

/// The members of an UpdateItem or DeleteItem request that the cache needs: both name one item by its key.
package struct KeyedWriteRequest: Hashable, Sendable {
    package var tableName: String
    package var key: PrimaryKey
    package var returnValues: String?

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        (tableName, key, returnValues) = try object.withJSON { json throws(WireError) in
            let members = object.members
            return (
                try json.tableName(of: members),
                try json.primaryKey("Key", of: members),
                try json.string(json.member("ReturnValues", of: members), field: "ReturnValues")
            )
        }
    }

    /// The request `object` with `ReturnValues` set to `ALL_NEW`: an UpdateItem that answers the whole new item.
    package static func askingForAllNew(_ object: JSONObject, allocator: ByteBufferAllocator) -> ByteBuffer {
        object.rewritten(removing: [], setting: [("ReturnValues", #""ALL_NEW""#)], allocator: allocator)
    }
}
