import DynamoWire
import NIOCore

/// The JSON reader and what is built on it without a request shape: the validator, `JSONObject` and its member
/// access, the canonical form the query cache keys by, the member rewriting of forwarded requests, and attribute
/// values and maps with their encoders.
///
/// Invariants checked, besides not crashing: validation agrees with `JSONObject`; every output the code writes
/// for a validated body is valid JSON again; canonical JSON is a fixed point; attribute values and maps survive
/// an encode and re-parse unchanged; canonical keys do not depend on attribute order; and a buffer whose reader
/// index is not 0 reads exactly as one whose index is.
package enum JSONFuzz {
    package static func run(_ bytes: UnsafeRawBufferPointer) {
        let body = FuzzInput.buffer(bytes)
        let shifted = FuzzInput.offsetBuffer(bytes)

        var members: [JSONMember] = []
        let root = try? JSONReader.validate(bytes, topLevelMembers: &members)
        let object = try? JSONObject(parsing: body)
        invariant((object != nil) == (root?.kind == .object), "JSONObject and JSONReader.validate disagree")
        if let object {
            invariant(object.members == members, "JSONObject's members differ from the validator's")
            let shiftedObject = try? JSONObject(parsing: shifted)
            invariant(shiftedObject?.members == members, "the reader index changes the members")
            walk(object, depth: 0)
            canonical(object, shiftedObject!)
            rewriting(object)
            _ = UpstreamErrorCode.code(in: body)
        }

        if let value = try? AttributeValue(parsing: body) {
            var encoded = ByteBuffer()
            value.encode(into: &encoded)
            invariant((try? AttributeValue(parsing: encoded)) == value, "an attribute value does not round-trip")
            invariant((try? AttributeValue(parsing: shifted)) == value, "the reader index changes an attribute value")
            _ = value.isInStoredForm
            _ = KeyValueHash.of(value)
        }

        if let map = try? AttributeMap(parsing: body) {
            var encoded = ByteBuffer()
            map.encode(into: &encoded)
            invariant((try? AttributeMap(parsing: encoded)) == map, "an attribute map does not round-trip")
            invariant((try? AttributeMap(parsing: shifted)) == map, "the reader index changes an attribute map")
            _ = map.isInStoredForm
            keys(of: map)
        }
    }

    /// Reads every member of `object` the way request types do, and nested objects down to a few levels (each
    /// level is validated again as a body of its own, which it must be).
    private static func walk(_ object: JSONObject, depth: Int) {
        for member in object.members {
            // A member name is the raw text between its quotes: as a string value it decodes like one.
            let name = object.string(
                JSONValue(kind: .string, range: member.name.lowerBound - 1..<member.name.upperBound + 1))
            quoteRoundTrip(name)
            switch member.value.kind {
            case .string:
                quoteRoundTrip(object.string(member.value))
            case .object where depth < 4:
                let range = member.value.range
                let slice = object.body.getSlice(at: object.body.readerIndex + range.lowerBound, length: range.count)!
                guard let nested = try? JSONObject(parsing: slice) else {
                    invariant(false, "a nested object of a valid body is not valid on its own")
                    return
                }
                walk(nested, depth: depth + 1)
            default:
                break
            }
        }
        // The typed accessors that every request type goes through.
        _ = try? object.tableName()
        _ = try? object.string(named: "ProjectionExpression")
        _ = try? object.member("Key")
    }

    /// `JSONWriter` and the reader agree on every string: written, then read back, it is the same text.
    private static func quoteRoundTrip(_ text: String) {
        let body = FuzzInput.buffer(#"{"v":"# + JSONWriter.quoted(text) + "}")
        guard let object = try? JSONObject(parsing: body), let value = try? object.member("v") else {
            invariant(false, "JSONWriter.quoted wrote invalid JSON")
            return
        }
        invariant(object.string(value) == text, "a string does not survive JSONWriter and the reader")
    }

    /// The query cache's key: valid JSON, a fixed point, and the same whatever the reader index.
    private static func canonical(_ object: JSONObject, _ shifted: JSONObject) {
        for excluding: Set<String> in [[], ["ReturnConsumedCapacity"]] {
            let bytes = CanonicalJSON.encode(object, excluding: excluding)
            invariant(
                CanonicalJSON.encode(shifted, excluding: excluding) == bytes, "the reader index changes CanonicalJSON")
            guard let bytes else { continue }
            var buffer = ByteBuffer()
            buffer.writeBytes(bytes)
            guard let again = try? JSONObject(parsing: buffer) else {
                invariant(false, "CanonicalJSON wrote invalid JSON")
                return
            }
            invariant(CanonicalJSON.encode(again, excluding: []) == bytes, "CanonicalJSON is not a fixed point")
        }
    }

    /// The rewrites of forwarded bodies (UpdateItem asked for ALL_NEW, an answer without its Attributes) are
    /// valid JSON with the member set or gone.
    private static func rewriting(_ object: JSONObject) {
        let allNew = KeyedWriteRequest.askingForAllNew(object, allocator: FuzzInput.allocator)
        guard let rewritten = try? JSONObject(parsing: allNew) else {
            invariant(false, "askingForAllNew wrote invalid JSON")
            return
        }
        invariant((try? rewritten.string(named: "ReturnValues")) == "ALL_NEW", "askingForAllNew did not set ALL_NEW")

        let stripped = UpdateItemResponse.removingAttributes(from: object.body, allocator: FuzzInput.allocator)
        guard let without = try? JSONObject(parsing: stripped) else {
            invariant(false, "removingAttributes wrote invalid JSON")
            return
        }
        invariant((try? without.member("Attributes")) == .some(nil), "removingAttributes left Attributes")
    }

    /// Canonical keys of the map's first one or two attributes, which must not depend on their order.
    private static func keys(of map: AttributeMap) {
        guard !map.isEmpty else { return }
        let entries = Array(map.entries.prefix(2))
        var forward = AttributeMap()
        var backward = AttributeMap()
        for entry in entries { forward[entry.name] = entry.value }
        for entry in entries.reversed() { backward[entry.name] = entry.value }
        let key = try? CanonicalKey(forward)
        invariant((try? CanonicalKey(backward)) == key, "a canonical key depends on the order of its attributes")
        if key != nil {
            invariant((try? PrimaryKey(forward)) != nil, "PrimaryKey refuses what CanonicalKey accepts")
        }
        _ = map.primaryKey(named: entries.map(\.name))
    }
}
