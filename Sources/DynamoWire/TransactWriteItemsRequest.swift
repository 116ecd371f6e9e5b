import NIOCore

/// The members of a TransactWriteItems request that the cache needs: every item the transaction touches.
package struct TransactWriteItemsRequest: Hashable, Sendable {
    /// One element of `TransactItems`.
    package struct Item: Hashable, Sendable {
        /// What the element does, with the item or key it names.
        package enum Action: Hashable, Sendable {
            case put(AttributeMap)
            case update(PrimaryKey)
            case delete(PrimaryKey)
            /// Changes nothing, but a failed check cancels the whole transaction.
            case conditionCheck(PrimaryKey)
        }

        package var tableName: String
        package var action: Action
    }

    /// In body order.
    package var items: [Item]

    /// Validates `body` and reads the request from it.
    package init(parsing body: ByteBuffer) throws(WireError) {
        try self.init(JSONObject(parsing: body))
    }

    /// Reads the request from an already validated body.
    package init(_ object: JSONObject) throws(WireError) {
        items = try object.withJSON { json throws(WireError) in
            let transactItems = try json.required(
                json.member("TransactItems", of: object.members),
                field: "TransactItems"
            )
            try json.expect(transactItems, .array, field: "TransactItems")
            var items: [Item] = []
            for element in json.elements(of: transactItems) {
                try json.expect(element, .object, field: "TransactItems")
                items.append(try Self.item(element, json))
            }
            guard !items.isEmpty else { throw .invalidField(field: "TransactItems", reason: .empty) }
            return items
        }
    }

    /// The one operation member of a `TransactItems` element.
    private static func item(_ element: JSONValue, _ json: ValidatedJSON) throws(WireError) -> Item {
        let fields = json.members(of: element)
        let put = try json.member("Put", of: fields)
        let update = try json.member("Update", of: fields)
        let delete = try json.member("Delete", of: fields)
        let check = try json.member("ConditionCheck", of: fields)
        let operations = [put, update, delete, check].compactMap { $0 }
        guard operations.count == 1, let operation = operations.first else {
            throw .invalidField(
                field: "TransactItems",
                reason: .exactlyOneOf(["ConditionCheck", "Put", "Update", "Delete"])
            )
        }
        try json.expect(operation, .object, field: "TransactItems")
        let members = json.members(of: operation)
        let tableName = try json.tableName(of: members)
        let action: Item.Action
        if put != nil {
            action = .put(try json.item("Item", of: members))
        } else if update != nil {
            action = .update(try json.primaryKey("Key", of: members))
        } else if delete != nil {
            action = .delete(try json.primaryKey("Key", of: members))
        } else {
            action = .conditionCheck(try json.primaryKey("Key", of: members))
        }
        return Item(tableName: tableName, action: action)
    }
}
