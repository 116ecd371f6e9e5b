/// Reading attribute values from validated JSON, with DynamoDB's checks.
extension ValidatedJSON {
    /// The datatype members of an AttributeValue object.
    private enum Datatype {
        case s, n, b, bool, null, l, m, ss, ns, bs
    }

    /// The datatype the raw member name spells; nil for names DynamoDB does not know (which it ignores).
    private func datatype(_ name: Range<Int>) -> Datatype? {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[name])
        switch raw.count {
        case 1:
            switch raw[0] {
            case UInt8(ascii: "S"): return .s
            case UInt8(ascii: "N"): return .n
            case UInt8(ascii: "B"): return .b
            case UInt8(ascii: "L"): return .l
            case UInt8(ascii: "M"): return .m
            default: break
            }
        case 2 where raw[1] == UInt8(ascii: "S"):
            switch raw[0] {
            case UInt8(ascii: "S"): return .ss
            case UInt8(ascii: "N"): return .ns
            case UInt8(ascii: "B"): return .bs
            default: break
            }
        case 4:
            if self.name(name, equals: "BOOL") { return .bool }
            if self.name(name, equals: "NULL") { return .null }
        default:
            break
        }
        // Only an escaped spelling is left to recognise; it is legal JSON, so decode and look again.
        guard raw.contains(UInt8(ascii: "\\")) else { return nil }
        switch decodeString(contents: name) {
        case "S": return .s
        case "N": return .n
        case "B": return .b
        case "BOOL": return .bool
        case "NULL": return .null
        case "L": return .l
        case "M": return .m
        case "SS": return .ss
        case "NS": return .ns
        case "BS": return .bs
        default: return nil
        }
    }

    /// The attribute value `value`, an object with exactly one datatype member.
    func attributeValue(_ value: JSONValue, field: String) throws(WireError) -> AttributeValue {
        try expect(value, .object, field: field)
        var result: AttributeValue?
        for member in members(of: value) where member.value.kind != .null {
            guard let datatype = datatype(member.name) else { continue }
            guard result == nil else { throw .invalidField(field: field, reason: .multipleDatatypes) }
            result = try attributeValue(datatype, member.value, field: field)
        }
        guard let result else { throw .invalidField(field: field, reason: .emptyAttributeValue) }
        return result
    }

    private func attributeValue(
        _ datatype: Datatype,
        _ value: JSONValue,
        field: String
    ) throws(WireError) -> AttributeValue {
        switch datatype {
        case .s:
            return .s(try required(string(value, field: field), field: field))
        case .n:
            return .n(try number(value, field: field))
        case .b:
            return .b(try required(string(value, field: field), field: field))
        case .bool:
            return .bool(try required(bool(value, field: field), field: field))
        case .null:
            guard try required(bool(value, field: field), field: field) else {
                throw .invalidField(field: field, reason: .nullNotTrue)
            }
            return .null
        case .l:
            try expect(value, .array, field: field)
            var list: [AttributeValue] = []
            for element in elements(of: value) {
                list.append(try attributeValue(element, field: field))
            }
            return .l(list)
        case .m:
            return .m(try attributeMap(value, field: field))
        case .ss:
            return .ss(
                try set(value, field: field) { json, element throws(WireError) in
                    try json.required(json.string(element, field: field), field: field)
                })
        case .ns:
            return .ns(
                try set(value, field: field) { json, element throws(WireError) in
                    try json.number(element, field: field)
                })
        case .bs:
            return .bs(
                try set(value, field: field) { json, element throws(WireError) in
                    try json.required(json.string(element, field: field), field: field)
                })
        }
    }

    /// A non-empty array of strings, each read by `read`.
    private func set(
        _ value: JSONValue,
        field: String,
        _ read: (ValidatedJSON, JSONValue) throws(WireError) -> String
    ) throws(WireError) -> [String] {
        try expect(value, .array, field: field)
        var texts: [String] = []
        for element in elements(of: value) {
            texts.append(try read(self, element))
        }
        guard !texts.isEmpty else { throw .invalidField(field: field, reason: .emptySet) }
        return texts
    }

    /// The text of a number value, checked against DynamoDB's number rules.
    private func number(_ value: JSONValue, field: String) throws(WireError) -> String {
        try expect(value, .string, field: field)
        let text = string(value)
        if let problem = DynamoNumber.validate(text) {
            throw .invalidField(field: field, reason: problem)
        }
        return text
    }

    /// The attribute map `value`: an object of attribute values with unique names.
    func attributeMap(_ value: JSONValue, field: String) throws(WireError) -> AttributeMap {
        try expect(value, .object, field: field)
        var map = AttributeMap()
        // Linear lookups find repeats in small maps; a set takes over before they turn quadratic.
        var names: Set<String> = []
        for member in members(of: value) {
            let name = decodeString(contents: member.name)
            if map.count == 16 { names = Set(map.entries.map(\.name)) }
            let isRepeated = map.count < 16 ? map[name] != nil : !names.insert(name).inserted
            // A repeated name could be read differently by DynamoDB and by the cache, so it is refused.
            guard !isRepeated else { throw .invalidField(field: field, reason: .duplicate) }
            map.appendNew(name: name, value: try attributeValue(member.value, field: field))
        }
        return map
    }
}
