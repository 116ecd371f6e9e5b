import NIOCore

/// A GetItem answer: read from the storage server's body, or composed for a cache hit.
package struct GetItemResponse: Sendable {
    /// The item; nil when the body has no `Item` member, i.e. the item does not exist.
    package var item: AttributeMap?
    /// Where the `Item` value lies in the parsed body (offsets from its reader index), so that it can be stored
    /// as the storage server sent it.
    package var itemRange: Range<Int>?

    /// Validates an upstream GetItem body and reads its item.
    package init(parsing body: ByteBuffer) throws(WireError) {
        let object = try JSONObject(parsing: body)
        (item, itemRange) = try object.withJSON { json throws(WireError) in
            guard let value = try json.member("Item", of: object.members) else { return (nil, nil) }
            return (try json.attributeMap(value, field: "Item"), value.range)
        }
    }

    /// The answer `{"Item":<itemJSON>}`, or `{}` when `itemJSON` is nil (no such item), plus the zero-unit
    /// `ConsumedCapacity` when asked. `itemJSON` is copied as it is: stored bytes are not re-encoded.
    package static func compose(
        itemJSON: ByteBuffer?,
        consumedCapacity: ConsumedCapacityRequest?,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        // Exactly `{"Item":}` around the item without consumed capacity: cache entries keep this buffer.
        var buffer = allocator.buffer(capacity: (itemJSON?.readableBytes ?? 0) + (consumedCapacity == nil ? 9 : 96))
        buffer.writeStaticString("{")
        if var itemJSON {
            buffer.writeStaticString(#""Item":"#)
            buffer.writeBuffer(&itemJSON)
        }
        finish(&buffer, hasItem: itemJSON != nil, consumedCapacity: consumedCapacity)
        return buffer
    }

    /// As `compose(itemJSON:...)`, encoding `item` (a projected item, which has no stored bytes).
    package static func compose(
        item: AttributeMap?,
        consumedCapacity: ConsumedCapacityRequest?,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeStaticString("{")
        if let item {
            buffer.writeStaticString(#""Item":"#)
            item.encode(into: &buffer)
        }
        finish(&buffer, hasItem: item != nil, consumedCapacity: consumedCapacity)
        return buffer
    }

    private static func finish(
        _ buffer: inout ByteBuffer,
        hasItem: Bool,
        consumedCapacity: ConsumedCapacityRequest?
    ) {
        if let consumedCapacity {
            buffer.writeStaticString(hasItem ? #","ConsumedCapacity":"# : #""ConsumedCapacity":"#)
            consumedCapacity.encodeZero(into: &buffer)
        }
        buffer.writeStaticString("}")
    }
}
