/// A primary key as sent (for forwarding and re-encoding) together with its canonical form (for the cache).
package struct PrimaryKey: Hashable, Sendable {
    package var attributes: AttributeMap
    package var canonical: CanonicalKey

    /// Checks `attributes` as a key (one or two attributes of type S, N or B).
    package init(_ attributes: AttributeMap) throws(WireError) {
        self.attributes = attributes
        self.canonical = try CanonicalKey(attributes)
    }

    init(_ attributes: AttributeMap, field: String) throws(WireError) {
        self.attributes = attributes
        self.canonical = try CanonicalKey(attributes, field: field)
    }
}

extension ValidatedJSON {
    /// The required key member `name` of `members`.
    func primaryKey(_ name: StaticString, of members: some Sequence<JSONMember>) throws(WireError) -> PrimaryKey {
        let field = name.description
        let value = try required(member(name, of: members), field: field)
        return try PrimaryKey(attributeMap(value, field: field), field: field)
    }

    /// The required item member `name` of `members`.
    func item(_ name: StaticString, of members: some Sequence<JSONMember>) throws(WireError) -> AttributeMap {
        let field = name.description
        return try attributeMap(required(member(name, of: members), field: field), field: field)
    }

    /// The required `TableName` member of `members`, normalised (`TableName.normalized`).
    func tableName(of members: some Sequence<JSONMember>) throws(WireError) -> String {
        TableName.normalized(
            try required(string(member("TableName", of: members), field: "TableName"), field: "TableName")
        )
    }
}
