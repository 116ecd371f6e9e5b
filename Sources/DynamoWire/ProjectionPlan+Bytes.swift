import NIOCore

extension ProjectionPlan {
    /// The projection of an item held as JSON bytes, with the same result as `apply(to:)` but without decoding
    /// the item: selected values are copied as they are, and only the maps and lists that paths go into are
    /// written anew. `itemJSON` must be an attribute map that was validated before (the `Item` of a parsed
    /// answer, as stored by the cache): it is navigated without being checked again. A whole-item plan returns it
    /// unchanged.
    package func apply(toItemJSON itemJSON: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let attributes else { return itemJSON }
        var output = allocator.buffer(capacity: min(itemJSON.readableBytes, 1024))
        itemJSON.withUnsafeReadableBytes { bytes in
            let json = ValidatedJSON(bytes: bytes)
            let start = JSONReader.skipWhitespace(bytes, from: 0)
            output.writeStaticString("{")
            Self.writeSelected(attributes, of: json.value(at: start), json, into: &output)
            output.writeStaticString("}")
        }
        return output
    }

    /// Writes the members of the map `object` that `children` select, comma-separated, in the map's order;
    /// returns whether it wrote any.
    @discardableResult
    private static func writeSelected(
        _ children: [Child],
        of object: JSONValue,
        _ json: ValidatedJSON,
        into output: inout ByteBuffer
    ) -> Bool {
        var wrote = false
        for member in json.members(of: object) {
            let name = json.decodeString(contents: member.name)
            guard let child = children.first(where: { $0.name == name }) else { continue }
            let rollback = output.writerIndex
            if wrote { output.writeStaticString(",") }
            JSONWriter.writeRaw(json.bytes, member.name.lowerBound - 1..<member.name.upperBound + 1, into: &output)
            output.writeStaticString(":")
            if writeSelected(child.node, of: member.value, json, into: &output) {
                wrote = true
            } else {
                output.moveWriterIndex(to: rollback)
            }
        }
        return wrote
    }

    /// Writes the part of the attribute value `value` (`{"M":...}`, `{"L":...}`, ...) that `node` selects;
    /// returns false, having written nothing the caller keeps, when it selects nothing.
    private static func writeSelected(
        _ node: Node,
        of value: JSONValue,
        _ json: ValidatedJSON,
        into output: inout ByteBuffer
    ) -> Bool {
        switch node {
        case .all:
            JSONWriter.writeRaw(json.bytes, value.range, into: &output)
            return true
        case .map(let children):
            guard let map = datatypeMember("M", of: value, json), map.kind == .object else { return false }
            output.writeStaticString(#"{"M":{"#)
            guard writeSelected(children, of: map, json, into: &output) else { return false }
            output.writeStaticString("}}")
            return true
        case .list(let elements):
            guard let list = datatypeMember("L", of: value, json), list.kind == .array else { return false }
            output.writeStaticString(#"{"L":["#)
            var wrote = false
            var wanted = elements.makeIterator()
            var next = wanted.next()
            for (index, element) in json.elements(of: list).enumerated() {
                guard let selected = next else { break }
                guard index == selected.index else { continue }
                next = wanted.next()
                let rollback = output.writerIndex
                if wrote { output.writeStaticString(",") }
                if writeSelected(selected.node, of: element, json, into: &output) {
                    wrote = true
                } else {
                    output.moveWriterIndex(to: rollback)
                }
            }
            guard wrote else { return false }
            output.writeStaticString("]}")
            return true
        }
    }

    /// The value of the datatype member `name` of the attribute value `value`; nil when it has another type.
    private static func datatypeMember(_ name: StaticString, of value: JSONValue, _ json: ValidatedJSON) -> JSONValue? {
        guard value.kind == .object else { return nil }
        // Members DynamoDB does not know are ignored when parsing, as null ones are; neither can be the datatype.
        return json.members(of: value).first { json.name($0.name, equals: name) && $0.value.kind != .null }?.value
    }
}
