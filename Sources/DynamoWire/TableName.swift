/// Table names as the cache keys them.
package enum TableName {
    /// Whether DynamoDB accepts `name` as a table name: 3 to 255 of `a-z A-Z 0-9 _ - .`.
    package static func isValid(_ name: String) -> Bool {
        (3...255).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            }
    }

    /// The plain name of `name`: DynamoDB accepts a table ARN (`arn:aws:dynamodb:us-east-1:123456789012:table/Music`)
    /// wherever a table name goes, so an ARN is reduced to the name after `table/` and entries keyed by name and by
    /// ARN coincide. Any other text, including an ARN of something other than a table, is returned unchanged.
    ///
    /// The region and account of the ARN are dropped: the proxy fronts one endpoint with one set of credentials,
    /// where an ARN names the same table as its plain name.
    package static func normalized(_ name: String) -> String {
        let utf8 = name.utf8
        guard utf8.starts(with: "arn:".utf8) else { return name }
        // arn:partition:service:region:account:resource; the resource is `table/<name>` for a table.
        var colons = 0
        var resourceStart = utf8.startIndex
        for index in utf8.indices where utf8[index] == UInt8(ascii: ":") {
            colons += 1
            if colons == 5 {
                resourceStart = utf8.index(after: index)
                break
            }
        }
        guard colons == 5 else { return name }
        let resource = name[resourceStart...]
        guard resource.utf8.starts(with: "table/".utf8) else { return name }
        let tableName = resource.utf8.dropFirst(6)
        guard !tableName.isEmpty, !tableName.contains(UInt8(ascii: "/")) else { return name }
        return String(Substring(tableName))
    }
}
