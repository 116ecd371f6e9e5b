import NIOCore

/// A DynamoDB attribute value, as sent in JSON (`{"S":"text"}`, `{"N":"1.5"}`, ...).
///
/// Numbers and binaries keep the text the client sent, so re-encoding reproduces it; equality here is therefore
/// textual (`"1"` and `"1.0"` differ). `CanonicalKey` is where numerically equal keys compare equal.
/// Not `indirect`: the recursive cases already hold their children in arrays, and `indirect` would add one heap
/// box per value.
package enum AttributeValue: Hashable, Sendable {
    case s(String)
    case n(String)
    /// Base64 text as sent.
    case b(String)
    case bool(Bool)
    case null
    case l([AttributeValue])
    case m(AttributeMap)
    case ss([String])
    case ns([String])
    /// Base64 texts as sent.
    case bs([String])

    /// Parses and validates a JSON body that holds one attribute value.
    package init(parsing body: ByteBuffer) throws(WireError) {
        self = try body.withUnsafeReadableBytes { bytes throws(WireError) in
            var members: [JSONMember] = []
            let root = try JSONReader.validate(bytes, topLevelMembers: &members)
            return try ValidatedJSON(bytes: bytes).attributeValue(root, field: "AttributeValue")
        }
    }

    /// Writes the compact JSON form, e.g. `{"S":"x"}`.
    package func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .s(let text):
            buffer.writeStaticString(#"{"S":"#)
            JSONWriter.writeString(text, into: &buffer)
        case .n(let text):
            buffer.writeStaticString(#"{"N":"#)
            JSONWriter.writeString(text, into: &buffer)
        case .b(let text):
            buffer.writeStaticString(#"{"B":"#)
            JSONWriter.writeString(text, into: &buffer)
        case .bool(let value):
            buffer.writeStaticString(value ? #"{"BOOL":true"# : #"{"BOOL":false"#)
        case .null:
            buffer.writeStaticString(#"{"NULL":true"#)
        case .l(let values):
            buffer.writeStaticString(#"{"L":["#)
            for (index, value) in values.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                value.encode(into: &buffer)
            }
            buffer.writeStaticString("]")
        case .m(let map):
            buffer.writeStaticString(#"{"M":"#)
            map.encode(into: &buffer)
        case .ss(let texts):
            buffer.writeStaticString(#"{"SS":"#)
            JSONWriter.writeStringArray(texts, into: &buffer)
        case .ns(let texts):
            buffer.writeStaticString(#"{"NS":"#)
            JSONWriter.writeStringArray(texts, into: &buffer)
        case .bs(let texts):
            buffer.writeStaticString(#"{"BS":"#)
            JSONWriter.writeStringArray(texts, into: &buffer)
        }
        buffer.writeStaticString("}")
    }
}

/// An attribute-name-to-value map that keeps the order in which members were received, so a body re-encoded from
/// it lists them as the client did. Lookup by name is a linear scan: items have few attributes, and keys at most
/// two. Equality is order-sensitive.
package struct AttributeMap: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    /// One attribute.
    package struct Entry: Hashable, Sendable {
        package var name: String
        package var value: AttributeValue

        package init(name: String, value: AttributeValue) {
            self.name = name
            self.value = value
        }
    }

    /// The attributes in order; names are unique.
    package private(set) var entries: [Entry]

    package init() {
        entries = []
    }

    /// A map of `elements` in literal order; a repeated name keeps its first position and its last value.
    package init(dictionaryLiteral elements: (String, AttributeValue)...) {
        entries = []
        for (name, value) in elements { self[name] = value }
    }

    /// Parses and validates a JSON body that holds one attribute map (such as an item).
    package init(parsing body: ByteBuffer) throws(WireError) {
        self = try body.withUnsafeReadableBytes { bytes throws(WireError) in
            var members: [JSONMember] = []
            let root = try JSONReader.validate(bytes, topLevelMembers: &members)
            return try ValidatedJSON(bytes: bytes).attributeMap(root, field: "Item")
        }
    }

    package var count: Int { entries.count }
    package var isEmpty: Bool { entries.isEmpty }

    /// The value of attribute `name`. Setting nil removes it; setting a new name appends it.
    package subscript(name: String) -> AttributeValue? {
        get { entries.first { $0.name == name }?.value }
        set {
            let index = entries.firstIndex { $0.name == name }
            switch (index, newValue) {
            case (let index?, let value?): entries[index].value = value
            case (let index?, nil): entries.remove(at: index)
            case (nil, let value?): entries.append(Entry(name: name, value: value))
            case (nil, nil): break
            }
        }
    }

    /// Appends an attribute the caller knows to be new (the JSON parser checks for duplicates itself).
    mutating func appendNew(name: String, value: AttributeValue) {
        entries.append(Entry(name: name, value: value))
    }

    /// Writes the compact JSON object form, e.g. `{"pk":{"S":"a"}}`.
    package func encode(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{")
        for (index, entry) in entries.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            JSONWriter.writeString(entry.name, into: &buffer)
            buffer.writeStaticString(":")
            entry.value.encode(into: &buffer)
        }
        buffer.writeStaticString("}")
    }
}
