/// Typed access to members, with the errors DynamoDB gives for missing and wrongly typed ones.
extension ValidatedJSON {
    /// The value of member `name` among `members`; nil when absent or null (DynamoDB treats null as absent).
    /// A repeated member is an error.
    func member(_ name: StaticString, of members: some Sequence<JSONMember>) throws(WireError) -> JSONValue? {
        var found: JSONValue?
        for member in members where self.name(member.name, equals: name) {
            guard found == nil else { throw .invalidField(field: name.description, reason: .duplicate) }
            found = member.value
        }
        return found?.kind == .null ? nil : found
    }

    /// Throws unless `value` has `kind`.
    func expect(_ value: JSONValue, _ kind: JSONKind, field: String) throws(WireError) {
        guard value.kind == kind else { throw .wrongType(field: field, expected: kind, found: value.kind) }
    }

    /// `value`, or a missing-field error.
    func required<T>(_ value: T?, field: String) throws(WireError) -> T {
        guard let value else { throw .invalidField(field: field, reason: .missing) }
        return value
    }

    /// The decoded string `value`; nil when `value` is nil.
    func string(_ value: JSONValue?, field: String) throws(WireError) -> String? {
        guard let value else { return nil }
        try expect(value, .string, field: field)
        return string(value)
    }

    /// The boolean `value`; nil when `value` is nil.
    func bool(_ value: JSONValue?, field: String) throws(WireError) -> Bool? {
        guard let value else { return nil }
        try expect(value, .bool, field: field)
        return bytes[value.range.lowerBound] == UInt8(ascii: "t")
    }

    /// The array of strings `value`; nil when `value` is nil.
    func stringList(_ value: JSONValue?, field: String) throws(WireError) -> [String]? {
        guard let value else { return nil }
        try expect(value, .array, field: field)
        var list: [String] = []
        for element in elements(of: value) {
            try expect(element, .string, field: field)
            list.append(string(element))
        }
        return list
    }

    /// The object of strings `value` (such as ExpressionAttributeNames); nil when `value` is nil.
    func stringMap(_ value: JSONValue?, field: String) throws(WireError) -> [String: String]? {
        guard let value else { return nil }
        try expect(value, .object, field: field)
        var map: [String: String] = [:]
        for member in members(of: value) {
            try expect(member.value, .string, field: field)
            let name = decodeString(contents: member.name)
            guard map.updateValue(string(member.value), forKey: name) == nil else {
                throw .invalidField(field: field, reason: .duplicate)
            }
        }
        return map
    }
}
