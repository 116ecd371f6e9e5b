/// Which attributes a read returns: a projection expression with its name placeholders, or the legacy
/// `AttributesToGet`. All nil means whole items.
package struct Projection: Hashable, Sendable {
    package var projectionExpression: String?
    package var expressionAttributeNames: [String: String]?
    package var attributesToGet: [String]?

    package init(
        projectionExpression: String? = nil,
        expressionAttributeNames: [String: String]? = nil,
        attributesToGet: [String]? = nil
    ) {
        self.projectionExpression = projectionExpression
        self.expressionAttributeNames = expressionAttributeNames
        self.attributesToGet = attributesToGet
    }

    /// True when whole items are returned.
    package var isWholeItem: Bool {
        projectionExpression == nil && attributesToGet == nil
    }
}

extension ValidatedJSON {
    /// The projection members of `members`.
    func projection(of members: some Sequence<JSONMember>) throws(WireError) -> Projection {
        Projection(
            projectionExpression: try string(
                member("ProjectionExpression", of: members),
                field: "ProjectionExpression"
            ),
            expressionAttributeNames: try stringMap(
                member("ExpressionAttributeNames", of: members),
                field: "ExpressionAttributeNames"
            ),
            attributesToGet: try stringList(member("AttributesToGet", of: members), field: "AttributesToGet")
        )
    }
}
