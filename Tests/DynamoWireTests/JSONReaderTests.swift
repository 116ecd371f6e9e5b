import Foundation
import NIOCore
import Testing

@testable import DynamoWire

@Suite struct JSONReaderTests {
    static let getItem =
        #"{"TableName": "users", "Key": {"pk": {"S": "user#1"}, "sk": {"N": "42"}}, "ConsistentRead": true}"#

    @Test func acceptsValidDocuments() throws {
        let valid = [
            "{}", "[]", " { } ", "\t[\n]\r\n", "0", "-0", "1.5e+10", "-0.0E-0", "123456789012345678901234567890",
            "true", "false", "null", #""""#, #""\"\\\/\b\f\n\r\t""#, #""\u00e9\uD83D\uDE00""#, "\"é😀\"",
            #"{"a":[1,{"b":null},[]],"c":{"d":"e"}}"#, #"[[[[[]]]]]"#, "[1,2,3]",
            #"{"a":1,"a":2}"#,
        ]
        for text in valid {
            #expect(wireError { () throws(WireError) in try validate(text) } == nil, "\(text)")
        }
    }

    @Test func reportsKindAndRange() throws {
        let value = try validate("  [1, 2]  ")
        #expect(value.kind == .array)
        #expect(value.range == 2..<8)
        #expect(try validate(#""x""#).kind == .string)
        #expect(try validate("-1").kind == .number)
        #expect(try validate("false").kind == .bool)
        #expect(try validate("null").kind == .null)
    }

    @Test func rejectsMalformedDocuments() {
        let cases: [(String, WireError)] = [
            ("", .emptyBody), ("   \n", .emptyBody),
            ("{", .truncated), (#"{"a""#, .truncated), (#"{"a":"#, .truncated), ("[1,", .truncated),
            (#""abc"#, .truncated), ("tru", .truncated), ("-", .truncated), ("1.", .truncated), ("1e", .truncated),
            ("{,}", .invalidJSON(offset: 1)), (#"{"a" 1}"#, .invalidJSON(offset: 5)),
            (#"{"a":1,}"#, .invalidJSON(offset: 7)), ("[1,]", .invalidJSON(offset: 3)),
            ("[1 2]", .invalidJSON(offset: 3)),
            ("{} {}", .invalidJSON(offset: 3)), ("01", .invalidJSON(offset: 1)), ("+1", .invalidJSON(offset: 0)),
            (".5", .invalidJSON(offset: 0)), ("1.e5", .invalidJSON(offset: 2)), ("-a", .invalidJSON(offset: 1)),
            ("NaN", .invalidJSON(offset: 0)), ("truE", .invalidJSON(offset: 3)), ("nul", .truncated),
            ("{'a':1}", .invalidJSON(offset: 1)), ("[1]]", .invalidJSON(offset: 3)), ("{1:2}", .invalidJSON(offset: 1)),
            ("[\"a\tb\"]", .invalidJSON(offset: 3)), ("\"\u{1}\"", .invalidJSON(offset: 1)),
            (#"{"a":1]"#, .invalidJSON(offset: 6)), (#"["a":1]"#, .invalidJSON(offset: 4)),
        ]
        for (text, expected) in cases {
            #expect(wireError { () throws(WireError) in try validate(text) } == expected, "\(text)")
        }
    }

    @Test func rejectsBadEscapes() {
        let cases: [(String, WireError)] = [
            (#""\x""#, .invalidJSON(offset: 1)), (#""\u12G4""#, .invalidJSON(offset: 5)),
            (#""\u12""#, .invalidJSON(offset: 5)),
            (#""\uDE00""#, .invalidUTF8(offset: 1)), (#""\uD83D""#, .invalidUTF8(offset: 1)),
            (#""\uD83Dx""#, .invalidUTF8(offset: 1)), (#""\uD83D\u0041""#, .invalidUTF8(offset: 1)),
            (#""\uD83D\uD83D""#, .invalidUTF8(offset: 1)), (#""\"#, .truncated), (#""\u00"#, .truncated),
            (#""\'""#, .invalidJSON(offset: 1)),
        ]
        for (text, expected) in cases {
            #expect(wireError { () throws(WireError) in try validate(text) } == expected, "\(text)")
        }
    }

    @Test func rejectsInvalidUTF8() {
        let cases: [([UInt8], WireError)] = [
            ([0x22, 0xFF, 0x22], .invalidUTF8(offset: 1)),
            ([0x22, 0x80, 0x22], .invalidUTF8(offset: 1)),
            ([0x22, 0xC0, 0xAF, 0x22], .invalidUTF8(offset: 1)),  // overlong "/"
            ([0x22, 0xE0, 0x80, 0xAF, 0x22], .invalidUTF8(offset: 2)),  // overlong
            ([0x22, 0xED, 0xA0, 0x80, 0x22], .invalidUTF8(offset: 2)),  // encoded surrogate
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], .invalidUTF8(offset: 2)),  // above U+10FFFF
            ([0x22, 0xC3, 0x28, 0x22], .invalidUTF8(offset: 2)),
            ([0x22, 0xE2, 0x82, 0x22], .invalidUTF8(offset: 3)),
            ([0x22, 0xE2, 0x82], .truncated),
        ]
        for (bytes, expected) in cases {
            #expect(wireError { () throws(WireError) in try validate(bytes) } == expected, "\(bytes)")
        }
        // An invalid byte after an ASCII run, to exercise the word-at-a-time scan.
        #expect(
            wireError { () throws(WireError) in try validate(Array(#""abcdefghijklmnop"#.utf8) + [0xFE, 0x22]) }
                == .invalidUTF8(offset: 17))
        // Valid multi-byte forms at the edges of each range.
        let valid: [[UInt8]] = [
            [0x22, 0xC2, 0x80, 0x22], [0x22, 0xDF, 0xBF, 0x22], [0x22, 0xE0, 0xA0, 0x80, 0x22],
            [0x22, 0xED, 0x9F, 0xBF, 0x22], [0x22, 0xEF, 0xBF, 0xBF, 0x22], [0x22, 0xF0, 0x90, 0x80, 0x80, 0x22],
            [0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22],
        ]
        for bytes in valid {
            #expect(wireError { () throws(WireError) in try validate(bytes) } == nil, "\(bytes)")
        }
    }

    @Test func controlCharacterAfterLongRunIsFound() {
        let text = "\"" + String(repeating: "a", count: 21) + "\n\""
        #expect(wireError { () throws(WireError) in try validate(text) } == .invalidJSON(offset: 22))
        let quoteAfterRun = "\"" + String(repeating: "b", count: 40) + "\" x"
        #expect(wireError { () throws(WireError) in try validate(quoteAfterRun) } == .invalidJSON(offset: 43))
    }

    @Test func everyPrefixOfAValidBodyIsRejected() {
        let body = Array(
            #"{"TableName":"t\u00e9","Key":{"pk":{"S":"é😀\"x"},"n":{"N":"-1.5e3"}},"L":[true,false,null,[],{}]}"#.utf8
        )
        #expect(wireError { () throws(WireError) in try validate(body) } == nil)
        for length in 0..<body.count {
            let error = wireError { () throws(WireError) in try validate(Array(body[..<length])) }
            #expect(error != nil, "prefix of \(length) bytes")
            if length > 0 {
                let objectError = wireError { () throws(WireError) in
                    try JSONObject(parsing: buffer(Array(body[..<length])))
                }
                #expect(objectError != nil)
            }
        }
    }

    @Test func deepNestingIsRejectedWithoutRecursion() {
        let deep = String(repeating: "[", count: 10_000)
        #expect(wireError { () throws(WireError) in try validate(deep) } == .tooDeep)
        let deepObjects = String(repeating: #"{"a":"#, count: 10_000)
        #expect(wireError { () throws(WireError) in try validate(deepObjects) } == .tooDeep)
        let limit = JSONReader.maximumDepth
        let atLimit = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(wireError { () throws(WireError) in try validate(atLimit) } == nil)
        let overLimit = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(wireError { () throws(WireError) in try validate(overLimit) } == .tooDeep)
        // Objects and arrays alternating across the 64-level word boundary keep their kinds.
        var mixed = ""
        for level in 0..<limit { mixed += level.isMultiple(of: 2) ? #"{"k":"# : "[" }
        mixed += "1"
        for level in (0..<limit).reversed() { mixed += level.isMultiple(of: 2) ? "}" : "]" }
        #expect(wireError { () throws(WireError) in try validate(mixed) } == nil)
        let wrongClose = String(mixed.dropLast()) + "]"
        #expect(wireError { () throws(WireError) in try validate(wrongClose) } != nil)
    }

    @Test func recordsTopLevelMembers() throws {
        let object = try JSONObject(parsing: buffer(Self.getItem))
        #expect(object.members.count == 3)
        #expect(try object.tableName() == "users")
        let key = try #require(try object.member("Key"))
        #expect(key.kind == .object)
        let keyText = String(
            decoding: object.body.getBytes(at: key.range.lowerBound, length: key.range.count)!, as: UTF8.self)
        #expect(keyText == #"{"pk": {"S": "user#1"}, "sk": {"N": "42"}}"#)
        #expect(try object.member("ConsistentRead")?.kind == .bool)
        #expect(try object.member("Missing") == nil)
    }

    @Test func topLevelNonObjectIsRejected() {
        #expect(wireError { () throws(WireError) in try JSONObject(parsing: buffer("[1]")) } == .notAnObject)
        #expect(wireError { () throws(WireError) in try JSONObject(parsing: buffer(#""x""#)) } == .notAnObject)
        #expect(wireError { () throws(WireError) in try JSONObject(parsing: buffer("")) } == .emptyBody)
    }

    @Test func memberRangesAreRelativeToTheReaderIndex() throws {
        var body = buffer("garbage" + #"{"TableName":"t"}"#)
        body.moveReaderIndex(forwardBy: 7)
        #expect(try JSONObject(parsing: body).tableName() == "t")
    }

    @Test func decodesEscapedStringsAndNames() throws {
        let object = try JSONObject(
            parsing: buffer(#"{"Table\u004eame":"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE00\u0000z"}"#))
        #expect(try object.tableName() == "a\"b\\c/d\u{8}\u{c}\n\r\té😀\u{0}z")
    }

    @Test func nullMembersCountAsAbsentAndDuplicatesAreRefused() throws {
        #expect(try JSONObject(parsing: buffer(#"{"TableName":null}"#)).tableName() == nil)
        let duplicated = try JSONObject(parsing: buffer(#"{"TableName":"a","TableName":"b"}"#))
        #expect(
            wireError { () throws(WireError) in try duplicated.tableName() }
                == .invalidField(field: "TableName", reason: .duplicate))
        let wrong = try JSONObject(parsing: buffer(#"{"TableName":5}"#))
        #expect(
            wireError { () throws(WireError) in try wrong.tableName() }
                == .wrongType(field: "TableName", expected: .string, found: .number))
    }

    @Test func largeItemValidates() throws {
        // About 400 KB: many attributes, long strings, numbers, nested values and non-ASCII text.
        var text = #"{"TableName":"big","Item":{"pk":{"S":"k"}"#
        var index = 0
        while text.utf8.count < 400_000 {
            text += #","a\#(index)":{"S":"\#(String(repeating: "x", count: 200))é\u00e9"}"#
            text +=
                #","n\#(index)":{"N":"\#(index).5e-3"},"m\#(index)":{"M":{"l":{"L":[{"BOOL":true},{"NULL":true}]}}}"#
            index += 1
        }
        text += "}}"
        let request = try PutItemRequest(parsing: buffer(text))
        #expect(request.item.count == 1 + 3 * index)
        #expect(request.item["a0"] == .s(String(repeating: "x", count: 200) + "éé"))
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect((parsed?["Item"] as? [String: Any])?.count == request.item.count)
    }

    @Test func sixteenMegabyteLimit() throws {
        let padding = JSONReader.maximumBodySize - #"{"TableName":"t","P":""}"#.utf8.count
        let atLimit = #"{"TableName":"t","P":""# + String(repeating: "y", count: padding) + #""}"#
        #expect(atLimit.utf8.count == JSONReader.maximumBodySize)
        #expect(try JSONObject(parsing: buffer(atLimit)).tableName() == "t")
        let overLimit = atLimit + " "
        #expect(
            wireError { () throws(WireError) in try JSONObject(parsing: buffer(overLimit)) }
                == .bodyTooLarge(size: JSONReader.maximumBodySize + 1))
    }
}
