/// Everything this module can find wrong with a request body: a closed set, turned into the DynamoDB error a
/// client sees in exactly one place, `DynamoError.init(_: WireError)`.
package enum WireError: Error, Hashable, Sendable {
    /// The body has no bytes, or only whitespace.
    case emptyBody
    /// The body is larger than DynamoDB's request limit (`JSONReader.maximumBodySize`).
    case bodyTooLarge(size: Int)
    /// The body ends inside a JSON value.
    case truncated
    /// The byte at `offset` breaks the JSON grammar.
    case invalidJSON(offset: Int)
    /// A string holds bytes at `offset` that are not UTF-8, or an escape that encodes a lone surrogate.
    case invalidUTF8(offset: Int)
    /// Containers nest deeper than `JSONReader.maximumDepth`.
    case tooDeep
    /// The body is valid JSON but not an object.
    case notAnObject
    /// A member has a JSON type that the operation's schema does not allow there.
    case wrongType(field: String, expected: JSONKind, found: JSONKind)
    /// A member is well-typed JSON but its value is one DynamoDB rejects.
    case invalidField(field: String, reason: FieldProblem)
}

/// Why a member's value is rejected; each maps to one DynamoDB message. An `Error` as well, so that checks that
/// do not know the member's name can throw it for their caller to wrap in `WireError.invalidField`.
package enum FieldProblem: Error, Hashable, Sendable {
    /// A required member is absent or null.
    case missing
    /// The member appears more than once in the same object.
    case duplicate
    /// A list or map that must not be empty is.
    case empty
    /// An AttributeValue with no supported datatype member.
    case emptyAttributeValue
    /// An AttributeValue with more than one datatype member.
    case multipleDatatypes
    /// `{"NULL": false}`.
    case nullNotTrue
    /// An `N` value that is not a decimal number.
    case invalidNumber
    /// An `N` value with more than 38 significant digits.
    case numberTooPrecise
    /// An `N` value whose magnitude exceeds 9.99...E+125.
    case numberOverflow
    /// An `N` value whose magnitude is below 1E-130.
    case numberUnderflow
    /// An `SS`, `NS` or `BS` value with no elements.
    case emptySet
    /// A `B` key value that is not Base64.
    case invalidBase64
    /// A primary key that does not have one or two attributes of type S, N or B.
    case keyMismatch
    /// A key attribute whose string or binary value is empty.
    case emptyKeyValue(attribute: String)
    /// An element that must hold exactly one of the listed members holds none or several.
    case exactlyOneOf([String])
}
