import NIOCore

/// Splices a raw member taken from one body into another object body.
package enum RawMember {
    /// `object` with `"name":<bytes of range in source>` added before its closing brace; `object` unchanged when
    /// `range` is nil.
    package static func appending(
        _ name: String,
        from source: ByteBuffer,
        range: Range<Int>?,
        to object: ByteBuffer,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        guard let range, object.readableBytes >= 2 else { return object }
        var result = allocator.buffer(capacity: object.readableBytes + name.utf8.count + range.count + 4)
        var head = object.getSlice(at: object.readerIndex, length: object.readableBytes - 1)!
        let isEmpty = object.readableBytes == 2
        result.writeBuffer(&head)
        if !isEmpty { result.writeStaticString(",") }
        result.writeStaticString("\"")
        result.writeString(name)
        result.writeStaticString("\":")
        result.writeBytes(
            source.readableBytesView[(source.readerIndex + range.lowerBound)..<(source.readerIndex + range.upperBound)])
        result.writeStaticString("}")
        return result
    }
}
