import NIOCore

/// A BatchGetItem answer from the storage server.
package struct BatchGetItemResponse: Sendable {
    /// `Responses`, per table in body order. Table names are normalised (`TableName.normalized`).
    package var responses: [(tableName: String, items: [AttributeMap])]
    /// The byte ranges of the items of `responses` in the body, parallel to it.
    package var itemRanges: [[Range<Int>]]
    /// `UnprocessedKeys`, per table in body order; empty when every key was processed.
    package var unprocessedKeys: [(tableName: String, keys: [PrimaryKey])]
    /// The byte ranges of the keys of `unprocessedKeys` in the body, parallel to it.
    package var unprocessedKeyRanges: [[Range<Int>]]
    /// The `ConsumedCapacity` array, when the client asked for it.
    package var consumedCapacityRange: Range<Int>?
    /// The elements of `ConsumedCapacity` and the normalised table each names.
    var consumedCapacity: [(tableName: String?, range: Range<Int>)]
    /// The parsed body, which the ranges refer to (offsets from its reader index).
    package let body: ByteBuffer

    /// Validates an upstream BatchGetItem body and reads it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        let object = try JSONObject(parsing: body)
        self.body = body
        (responses, itemRanges, unprocessedKeys, unprocessedKeyRanges, consumedCapacityRange, consumedCapacity) =
            try object.withJSON { json throws(WireError) in
                let members = object.members
                var responses: [(tableName: String, items: [AttributeMap])] = []
                var itemRanges: [[Range<Int>]] = []
                if let value = try json.member("Responses", of: members) {
                    try json.expect(value, .object, field: "Responses")
                    for table in json.members(of: value) {
                        try json.expect(table.value, .array, field: "Responses")
                        var items: [AttributeMap] = []
                        var ranges: [Range<Int>] = []
                        for item in json.elements(of: table.value) {
                            items.append(try json.attributeMap(item, field: "Responses"))
                            ranges.append(item.range)
                        }
                        responses.append((TableName.normalized(json.decodeString(contents: table.name)), items))
                        itemRanges.append(ranges)
                    }
                }
                var unprocessed: [(tableName: String, keys: [PrimaryKey])] = []
                var keyRanges: [[Range<Int>]] = []
                if let value = try json.member("UnprocessedKeys", of: members) {
                    try json.expect(value, .object, field: "UnprocessedKeys")
                    for table in json.members(of: value) {
                        try json.expect(table.value, .object, field: "UnprocessedKeys")
                        let keysValue = try json.required(
                            json.member("Keys", of: json.members(of: table.value)),
                            field: "Keys"
                        )
                        try json.expect(keysValue, .array, field: "Keys")
                        var keys: [PrimaryKey] = []
                        var ranges: [Range<Int>] = []
                        for key in json.elements(of: keysValue) {
                            keys.append(try PrimaryKey(json.attributeMap(key, field: "Keys"), field: "Keys"))
                            ranges.append(key.range)
                        }
                        unprocessed.append((TableName.normalized(json.decodeString(contents: table.name)), keys))
                        keyRanges.append(ranges)
                    }
                }
                var capacity: [(tableName: String?, range: Range<Int>)] = []
                let capacityValue = try json.member("ConsumedCapacity", of: members)
                if let capacityValue {
                    try json.expect(capacityValue, .array, field: "ConsumedCapacity")
                    for element in json.elements(of: capacityValue) {
                        try json.expect(element, .object, field: "ConsumedCapacity")
                        let name = try json.string(
                            json.member("TableName", of: json.members(of: element)),
                            field: "TableName"
                        )
                        capacity.append((name.map(TableName.normalized), element.range))
                    }
                }
                return (responses, itemRanges, unprocessed, keyRanges, capacityValue?.range, capacity)
            }
    }

    /// The bytes `range` of the body, sharing its storage.
    package func slice(_ range: Range<Int>) -> ByteBuffer {
        body.getSlice(at: body.readerIndex + range.lowerBound, length: range.count)!
    }
}
