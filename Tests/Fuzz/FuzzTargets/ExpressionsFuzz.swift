import DynamoWire
import NIOCore

/// The expression readers: projections (`ProjectionPlan`, with ExpressionAttributeNames, and `AttributesToGet`),
/// key conditions (`KeyCondition`) and PartiQL statements (`PartiQLStatement`).
///
/// The input is `expression NUL names NUL item`: the expression as UTF-8 (invalid sequences replaced), a JSON
/// object of names (`{"#a":"attr"}`; no names when it is not one) and a JSON item (a fixed nested item when it is
/// not one). Each part after the first is optional.
///
/// Invariants checked, besides not crashing: a projection applied to an item's JSON bytes gives the item that
/// applying it to the parsed item does (the cache answers hits the first way, fills the second); placeholders are
/// `:values`; comments and blanks before a PartiQL statement change nothing.
package enum ExpressionsFuzz {
    package static func run(_ bytes: UnsafeRawBufferPointer) {
        let parts = FuzzInput.split(bytes, parts: 3)
        let expression = String(decoding: parts[0], as: UTF8.self)
        let names = parts.count > 1 ? Self.names(parts[1]) : nil
        // The bytes version reads only validated items, so it gets the input's item only when that parses.
        let given = parts.count > 2 ? FuzzInput.buffer(parts[2]) : nil
        let (item, itemJSON) =
            given.flatMap { json in (try? AttributeMap(parsing: json)).map { ($0, json) } }
            ?? (Self.item, Self.defaultItem)

        let projections = [
            Projection(projectionExpression: expression, expressionAttributeNames: names),
            Projection(projectionExpression: expression),
            Projection(
                attributesToGet: expression.split(separator: ",", omittingEmptySubsequences: false).map(String.init)),
        ]
        for projection in projections {
            guard let plan = ProjectionPlan(projection) else { continue }
            invariant(!plan.isWholeItem, "a projection compiled to the whole item")
            let parsed = plan.apply(to: item)
            let projected = plan.apply(toItemJSON: itemJSON, allocator: FuzzInput.allocator)
            invariant(
                (try? AttributeMap(parsing: projected)) == parsed,
                "a projection of an item's bytes differs from the projection of the parsed item")
        }

        if let placeholders = KeyCondition.equalityPlaceholders(in: expression) {
            invariant(!placeholders.isEmpty, "equalityPlaceholders found an empty list")
            for placeholder in placeholders {
                invariant(placeholder.hasPrefix(":"), "a key-condition placeholder that is not a :value")
            }
        }

        let statement = PartiQLStatement(expression)
        for prefix in ["/**/", " \n", "--\n"] {
            invariant(
                PartiQLStatement(prefix + expression) == statement,
                "a leading \(prefix.debugDescription) changes a statement")
        }
    }

    /// The string members of a JSON object, names decoded; nil when the bytes are not a JSON object.
    private static func names(_ bytes: UnsafeRawBufferPointer) -> [String: String]? {
        guard let object = try? JSONObject(parsing: FuzzInput.buffer(bytes)) else { return nil }
        var names: [String: String] = [:]
        for member in object.members where member.value.kind == .string {
            let name = object.string(
                JSONValue(kind: .string, range: member.name.lowerBound - 1..<member.name.upperBound + 1))
            names[name] = object.string(member.value)
        }
        return names
    }

    /// An item with every type, nested maps and lists, for inputs without one of their own.
    static let defaultItem = FuzzInput.buffer(
        #"{"pk":{"S":"a"},"sk":{"N":"1"},"m":{"M":{"a":{"S":"x"},"b":{"L":[{"N":"0"},{"M":{"c":{"BOOL":true}}},"#
            + #"{"L":[{"S":"y"},{"NULL":true}]}]},"d":{"M":{"e":{"SS":["p","q"]}}}}},"l":{"L":[{"S":"l0"},"#
            + #"{"M":{"x":{"N":"2"},"y":{"B":"AA=="}}},{"L":[{"N":"3"}]},{"NS":["1","2"]}]},"bs":{"BS":["AQ=="]},"#
            + #""n":{"NULL":true},"b":{"BOOL":false},"#
            + #""\u0065sc":{"M":{"\u004d":{"S":"not a map"}}},"u":{"M":{"x":{"S":"y"},"M":{"S":"m"}}}}"#)
    static let item = try! AttributeMap(parsing: defaultItem)
}
