import Foundation
import NIOCore
import Testing

@testable import DynamoWire

@Suite struct DynamoErrorTests {
    /// The composed body, parsed back with Foundation.
    private func fields(_ error: DynamoError) throws -> [String: String] {
        let body = error.body()
        let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        return try #require(object as? [String: String])
    }

    @Test func composesEachKind() throws {
        let cases: [(DynamoError.Kind, Int, String, String)] = [
            (.serialization, 400, "com.amazon.coral.service#SerializationException", "Message"),
            (.validation, 400, "com.amazon.coral.validate#ValidationException", "message"),
            (.internalServerError, 500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "message"),
            (.serviceUnavailable, 503, "com.amazonaws.dynamodb.v20120810#ServiceUnavailable", "message"),
        ]
        for (kind, status, type, messageKey) in cases {
            let error = DynamoError(kind, message: "m")
            #expect(error.httpStatus == status)
            #expect(try fields(error) == ["__type": type, messageKey: "m"])
        }
    }

    @Test func escapesMessages() throws {
        let message = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} unicode é😀 del \u{7F}"
        let error = DynamoError(.validation, message: message)
        #expect(try fields(error)["message"] == message)
        let text = String(buffer: error.body())
        #expect(text.contains(#"\u0000"#) && text.contains(#"\u0007"#) && text.contains(#"\u000a"#))
        #expect(text.contains("é😀"))
    }

    @Test func exactBytes() {
        let text = String(
            buffer: DynamoError(.validation, message: "The provided key element does not match the schema").body())
        #expect(
            text
                == #"{"__type":"com.amazon.coral.validate#ValidationException","message":"The provided key element does not match the schema"}"#
        )
    }

    @Test func mapsWireErrors() {
        let cases: [(WireError, DynamoError.Kind, String)] = [
            (.emptyBody, .serialization, "The request body is empty"),
            (.truncated, .serialization, "The request body ends inside a JSON value"),
            (.invalidJSON(offset: 3), .serialization, "Invalid JSON at byte 3 of the request body"),
            (.invalidUTF8(offset: 9), .serialization, "Invalid UTF-8 in a JSON string at byte 9 of the request body"),
            (.notAnObject, .serialization, "The request body must be a JSON object"),
            (.tooDeep, .validation, "Nesting Levels have exceeded supported limits"),
            (
                .bodyTooLarge(size: 16_777_217), .validation,
                "Request size 16777217 bytes exceeds the limit of 16777216 bytes"
            ),
            (
                .wrongType(field: "TableName", expected: .string, found: .number), .serialization,
                "NUMBER_VALUE cannot be converted to String"
            ),
            (
                .wrongType(field: "Key", expected: .object, found: .array), .serialization,
                "Start of list found where not expected."
            ),
            (
                .wrongType(field: "ConsistentRead", expected: .bool, found: .string), .serialization,
                "STRING_VALUE cannot be converted to Boolean"
            ),
            (
                .invalidField(field: "TableName", reason: .missing), .validation,
                "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"
            ),
            (
                .invalidField(field: "Key", reason: .emptyAttributeValue), .validation,
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
            ),
            (
                .invalidField(field: "Key", reason: .multipleDatatypes), .validation,
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
            ),
            (
                .invalidField(field: "Key", reason: .keyMismatch), .validation,
                "The provided key element does not match the schema"
            ),
            (
                .invalidField(field: "Item", reason: .invalidNumber), .validation,
                "A value provided cannot be converted into a number"
            ),
            (
                .invalidField(field: "Key", reason: .emptyKeyValue(attribute: "pk")), .validation,
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"
            ),
        ]
        for (wire, kind, message) in cases {
            let error = DynamoError(wire)
            #expect(error.kind == kind, "\(wire)")
            #expect(error.message == message, "\(wire)")
        }
    }

    @Test func upstreamErrors() {
        #expect(DynamoError.upstreamOutcomeUnknown.httpStatus == 500)
        #expect(DynamoError.upstreamUnavailable.httpStatus == 503)
    }
}
