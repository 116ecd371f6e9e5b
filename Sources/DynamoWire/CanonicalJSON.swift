import NIOCore

/// A byte form of a request body that is the same for every spelling of the same request: object members
/// sorted by name, no whitespace, strings re-escaped one way. Numbers keep their text (`1` and `1.0` stay
/// different: a missed hit, never a wrong one). The query cache keys entries by it.
package enum CanonicalJSON {
    /// The canonical bytes of `object` without the top-level members named in `excluding`, or nil when an object
    /// repeats a member name (DynamoDB and the proxy could read such a body differently; it is not cached).
    package static func encode(_ object: JSONObject, excluding: Set<String>) -> [UInt8]? {
        object.body.withUnsafeReadableBytes { bytes -> [UInt8]? in
            let json = ValidatedJSON(bytes: bytes)
            var out = ByteBuffer()
            out.reserveCapacity(bytes.count)
            let top = json.value(at: JSONReader.skipWhitespace(bytes, from: 0))
            guard write(top, json: json, into: &out, excluding: excluding) else { return nil }
            return Array(out.readableBytesView)
        }
    }

    private static func write(
        _ value: JSONValue, json: ValidatedJSON, into out: inout ByteBuffer, excluding: Set<String>
    )
        -> Bool
    {
        switch value.kind {
        case .object:
            var members: [(name: String, value: JSONValue)] = []
            for member in json.members(of: value) {
                let name = json.decodeString(contents: member.name)
                if !excluding.contains(name) { members.append((name, member.value)) }
            }
            members.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            out.writeStaticString("{")
            for (index, member) in members.enumerated() {
                if index > 0 {
                    guard member.name != members[index - 1].name else { return false }
                    out.writeStaticString(",")
                }
                JSONWriter.writeString(member.name, into: &out)
                out.writeStaticString(":")
                guard write(member.value, json: json, into: &out, excluding: []) else { return false }
            }
            out.writeStaticString("}")
        case .array:
            out.writeStaticString("[")
            for (index, element) in json.elements(of: value).enumerated() {
                if index > 0 { out.writeStaticString(",") }
                guard write(element, json: json, into: &out, excluding: []) else { return false }
            }
            out.writeStaticString("]")
        case .string:
            JSONWriter.writeString(json.string(value), into: &out)
        case .number, .bool, .null:
            out.writeBytes(UnsafeRawBufferPointer(rebasing: json.bytes[value.range]))
        }
        return true
    }
}
