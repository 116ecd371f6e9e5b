import NIOCore

/// An error answer the proxy composes itself, in DynamoDB's wire form: an HTTP status and a body
/// `{"__type":"<namespace>#<Code>","message":"..."}`. SDKs take the part of `__type` after `#` as the error code
/// and read `message` or `Message`.
///
/// The type names are those real DynamoDB sends (AWS developer guide, "Error handling with DynamoDB"; dynalite
/// and Alternator mirror them), so SDK retry rules apply unchanged: 500 and 503 are retried, 400s are not.
package struct DynamoError: Error, Hashable, Sendable {
    /// The errors the proxy composes.
    package enum Kind: Hashable, Sendable {
        /// 400: the body is not JSON, or a member has the wrong JSON type.
        case serialization
        /// 400: a member's value breaks a DynamoDB rule, or the request is too large.
        case validation
        /// 500: the upstream outcome is unknown (the request may have been applied).
        case internalServerError
        /// 503: the upstream could not be reached; the request was not sent.
        case serviceUnavailable
        /// 400: no `Authorization` header (client authentication on).
        case missingAuthenticationToken
        /// 400: an `Authorization` header that is not a complete SigV4 one.
        case incompleteSignature
        /// 400: an access key id no client has, or a session token.
        case unrecognizedClient
        /// 400: a wrong signature, a date too far from now, a scope for another day or service.
        case invalidSignature
        /// 400: the client's section does not allow the operation on the table.
        case accessDenied
        /// 400, retried by every SDK: the proxy has as many requests waiting on the storage server as it allows.
        case throttling
    }

    package var kind: Kind
    package var message: String

    package init(_ kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// The HTTP status DynamoDB answers with for this kind.
    package var httpStatus: Int {
        switch kind {
        case .serialization, .validation, .missingAuthenticationToken, .incompleteSignature, .unrecognizedClient,
            .invalidSignature, .accessDenied, .throttling:
            400
        case .internalServerError: 500
        case .serviceUnavailable: 503
        }
    }

    /// The full `__type` value.
    package var type: StaticString {
        switch kind {
        case .serialization: "com.amazon.coral.service#SerializationException"
        case .validation: "com.amazon.coral.validate#ValidationException"
        case .internalServerError: "com.amazonaws.dynamodb.v20120810#InternalServerError"
        case .serviceUnavailable: "com.amazonaws.dynamodb.v20120810#ServiceUnavailable"
        case .missingAuthenticationToken: "com.amazon.coral.service#MissingAuthenticationTokenException"
        case .incompleteSignature: "com.amazon.coral.service#IncompleteSignatureException"
        case .unrecognizedClient: "com.amazon.coral.service#UnrecognizedClientException"
        case .invalidSignature: "com.amazon.coral.service#InvalidSignatureException"
        case .accessDenied: "com.amazon.coral.service#AccessDeniedException"
        case .throttling: "com.amazon.coral.availability#ThrottlingException"
        }
    }

    /// Writes the JSON body. SerializationException and AccessDeniedException carry `Message`, capitalised, as
    /// DynamoDB's do.
    package func encodeBody(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"__type":""#)
        buffer.writeStaticString(type)
        let capitalised = kind == .serialization || kind == .accessDenied
        buffer.writeStaticString(capitalised ? #"","Message":"# : #"","message":"#)
        JSONWriter.writeString(message, into: &buffer)
        buffer.writeStaticString("}")
    }

    /// The JSON body in a new buffer.
    package func body(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 96 + message.utf8.count)
        encodeBody(into: &buffer)
        return buffer
    }

    /// The answer when the upstream outcome is unknown, e.g. the connection dropped after the request was sent.
    package static let upstreamOutcomeUnknown = DynamoError(
        .internalServerError,
        message: "The request failed while it was being processed; it may or may not have been applied"
    )

    /// The answer when the upstream could not be reached, so the request was never sent.
    package static let upstreamUnavailable = DynamoError(
        .serviceUnavailable,
        message: "The service is currently unavailable; the request was not processed"
    )
}

extension DynamoError {
    /// The one place where request problems become DynamoDB errors. Messages follow DynamoDB's own wording where
    /// it is known, so clients that match on them keep working.
    package init(_ error: WireError) {
        switch error {
        case .emptyBody:
            self.init(.serialization, message: "The request body is empty")
        case .bodyTooLarge(let size):
            self.init(
                .validation,
                message: "Request size \(size) bytes exceeds the limit of \(JSONReader.maximumBodySize) bytes"
            )
        case .truncated:
            self.init(.serialization, message: "The request body ends inside a JSON value")
        case .invalidJSON(let offset):
            self.init(.serialization, message: "Invalid JSON at byte \(offset) of the request body")
        case .invalidUTF8(let offset):
            self.init(.serialization, message: "Invalid UTF-8 in a JSON string at byte \(offset) of the request body")
        case .tooDeep:
            self.init(.validation, message: "Nesting Levels have exceeded supported limits")
        case .notAnObject:
            self.init(.serialization, message: "The request body must be a JSON object")
        case .wrongType(_, let expected, let found):
            self.init(.serialization, message: Self.wrongTypeMessage(expected: expected, found: found))
        case .invalidField(let field, let reason):
            self.init(.validation, message: Self.message(field: field, reason: reason))
        }
    }

    /// The Jackson-style wording DynamoDB uses for a member of the wrong JSON type.
    private static func wrongTypeMessage(expected: JSONKind, found: JSONKind) -> String {
        let token: String
        switch found {
        case .object: return "Start of structure or map found where not expected."
        case .array: return "Start of list found where not expected."
        case .string: token = "STRING_VALUE"
        case .number: token = "NUMBER_VALUE"
        case .bool: token = "BOOLEAN_VALUE"
        case .null: token = "NULL_VALUE"
        }
        switch expected {
        case .string: return "\(token) cannot be converted to String"
        case .bool: return "\(token) cannot be converted to Boolean"
        default: return "Unexpected field type"
        }
    }

    private static func message(field: String, reason: FieldProblem) -> String {
        // DynamoDB names members in lowerCamelCase in constraint messages ("Value null at 'tableName'").
        let member = field.prefix(1).lowercased() + field.dropFirst()
        switch reason {
        case .missing:
            return "1 validation error detected: Value null at '\(member)' failed to satisfy constraint: "
                + "Member must not be null"
        case .duplicate:
            return "Member '\(field)' appears more than once"
        case .empty:
            return "1 validation error detected: Value at '\(member)' failed to satisfy constraint: "
                + "Member must have length greater than or equal to 1"
        case .emptyAttributeValue:
            return "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        case .multipleDatatypes:
            return "Supplied AttributeValue has more than one datatypes set, "
                + "must contain exactly one of the supported datatypes"
        case .nullNotTrue:
            return "One or more parameter values were invalid: Null attribute value types must have the value of true"
        case .invalidNumber:
            return "A value provided cannot be converted into a number"
        case .numberTooPrecise:
            return "Attempting to store more than 38 significant digits in a Number"
        case .numberOverflow:
            return "Number overflow. Attempting to store a number with magnitude larger than supported range"
        case .numberUnderflow:
            return "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        case .emptySet:
            return "One or more parameter values were invalid: A set may not be empty"
        case .invalidBase64:
            return "One or more parameter values were invalid: A binary key value is not valid Base64"
        case .keyMismatch:
            return "The provided key element does not match the schema"
        case .emptyKeyValue(let attribute):
            return "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                + "contain an empty string value. Key: \(attribute)"
        case .exactlyOneOf(let names):
            return "Each element of '\(field)' must contain exactly one of: \(names.joined(separator: ", "))"
        }
    }
}
