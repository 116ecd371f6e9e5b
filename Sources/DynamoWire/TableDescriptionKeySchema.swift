import NIOCore

/// A table's primary key schema, read from a DescribeTable answer (`Table`) or a CreateTable, UpdateTable or
/// DeleteTable answer (`TableDescription`).
package struct TableDescriptionKeySchema: Hashable, Sendable {
    /// Normalised (`TableName.normalized`); nil when the description has none.
    package var tableName: String?
    /// The key attribute names: the partition (HASH) key, then the sort (RANGE) key if any; empty when the
    /// description has no key schema.
    package var keyAttributes: [String]

    /// Validates `body` and reads the key schema of the table it describes.
    package init(parsing body: ByteBuffer) throws(WireError) {
        let object = try JSONObject(parsing: body)
        (tableName, keyAttributes) = try object.withJSON { json throws(WireError) in
            let members = object.members
            var description = try json.member("Table", of: members)
            if description == nil { description = try json.member("TableDescription", of: members) }
            guard let description else { return (nil, []) }
            try json.expect(description, .object, field: "TableDescription")
            let fields = Array(json.members(of: description))
            let name = try json.string(json.member("TableName", of: fields), field: "TableName")
            guard let schema = try json.member("KeySchema", of: fields) else { return (name, []) }
            try json.expect(schema, .array, field: "KeySchema")
            var hash: [String] = []
            var range: [String] = []
            for element in json.elements(of: schema) {
                try json.expect(element, .object, field: "KeySchema")
                let elementFields = Array(json.members(of: element))
                let attribute = try json.required(
                    json.string(json.member("AttributeName", of: elementFields), field: "AttributeName"),
                    field: "AttributeName"
                )
                switch try json.string(json.member("KeyType", of: elementFields), field: "KeyType") {
                case "HASH": hash.append(attribute)
                case "RANGE": range.append(attribute)
                default: throw .invalidField(field: "KeyType", reason: .keyMismatch)
                }
            }
            // A schema is one HASH key and at most one RANGE key; anything else is not one the cache can use.
            guard hash.count == 1, range.count <= 1 else {
                throw .invalidField(field: "KeySchema", reason: .keyMismatch)
            }
            return (name.map(TableName.normalized), hash + range)
        }
    }
}
