import NIOCore

/// An UpdateItem answer from the storage server.
package struct UpdateItemResponse: Sendable {
    /// The `Attributes` member: with ReturnValues ALL_NEW, the whole item as written; nil when absent.
    package var attributes: AttributeMap?
    /// Where the `Attributes` value lies in the parsed body (offsets from its reader index).
    package var attributesRange: Range<Int>?

    /// Validates an upstream UpdateItem body and reads its attributes.
    package init(parsing body: ByteBuffer) throws(WireError) {
        let object = try JSONObject(parsing: body)
        (attributes, attributesRange) = try object.withJSON { json throws(WireError) in
            guard let value = try json.member("Attributes", of: object.members) else { return (nil, nil) }
            return (try json.attributeMap(value, field: "Attributes"), value.range)
        }
    }

    /// `body` without its `Attributes` member, every other member (ConsumedCapacity, ItemCollectionMetrics) as
    /// sent: the answer for a client that asked ReturnValues NONE when the proxy asked ALL_NEW. A body that is not
    /// a JSON object is returned unchanged.
    package static func removingAttributes(from body: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let object = try? JSONObject(parsing: body) else { return body }
        return object.rewritten(removing: ["Attributes"], setting: [], allocator: allocator)
    }
}
