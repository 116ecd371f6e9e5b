import Foundation
import NIOCore
import Testing

@testable import DynamoWire

@Suite struct AttributeValueTests {
    private func encoded(_ value: AttributeValue) -> String {
        var out = ByteBuffer()
        value.encode(into: &out)
        return String(buffer: out)
    }

    private func parse(_ text: String) throws(WireError) -> AttributeValue {
        try AttributeValue(parsing: buffer(text))
    }

    @Test func encodesCompactly() {
        #expect(encoded(.s("x")) == #"{"S":"x"}"#)
        #expect(encoded(.n("-1.5E3")) == #"{"N":"-1.5E3"}"#)
        #expect(encoded(.b("AAE=")) == #"{"B":"AAE="}"#)
        #expect(encoded(.bool(true)) == #"{"BOOL":true}"#)
        #expect(encoded(.bool(false)) == #"{"BOOL":false}"#)
        #expect(encoded(.null) == #"{"NULL":true}"#)
        #expect(encoded(.l([.s("a"), .n("1")])) == #"{"L":[{"S":"a"},{"N":"1"}]}"#)
        #expect(encoded(.l([])) == #"{"L":[]}"#)
        #expect(encoded(.m(["z": .s("1"), "a": .null])) == #"{"M":{"z":{"S":"1"},"a":{"NULL":true}}}"#)
        #expect(encoded(.m([:])) == #"{"M":{}}"#)
        #expect(encoded(.ss(["a", "b"])) == #"{"SS":["a","b"]}"#)
        #expect(encoded(.ns(["1", "2"])) == #"{"NS":["1","2"]}"#)
        #expect(encoded(.bs(["AA=="])) == #"{"BS":["AA=="]}"#)
        #expect(encoded(.s("q\"b\\c\n\u{1F}é")) == #"{"S":"q\"b\\c\u000a\u001fé"}"#)
    }

    @Test func roundTrips() throws {
        let values: [AttributeValue] = [
            .s(""), .s("plain"), .s("esc \" \\ / \u{0} \u{8} \u{1F} \u{7F} é 😀 \u{2028}"), .n("0"), .n("-12.5e-3"),
            .b("AAECAw=="), .bool(true), .bool(false), .null, .l([]), .l([.null, .l([.s("deep")])]),
            .m(["b": .s("2"), "a": .m(["x": .ns(["1", "2.5"])]), "ключ": .bs(["AA=="])]),
            .ss(["x", "y", "é"]),
        ]
        for value in values {
            #expect(try parse(encoded(value)) == value, "\(value)")
            let viaFoundation = try JSONSerialization.jsonObject(with: Data(encoded(value).utf8))
            #expect(viaFoundation is [String: Any])
        }
    }

    @Test func parsesBoto3Spellings() throws {
        #expect(try parse(#"{ "S" : "a\u00e9" }"#) == .s("aé"))
        #expect(
            try parse(#"{"M": {"k": {"L": [{"N": "1"}, {"BOOL": false}]}}}"#) == .m(["k": .l([.n("1"), .bool(false)])]))
        // Unknown members are ignored, null members count as absent, as DynamoDB does.
        #expect(try parse(#"{"S":"x","Unknown":1}"#) == .s("x"))
        #expect(try parse(#"{"N":null,"S":"x"}"#) == .s("x"))
        #expect(try parse(#"{"\u0053":"escaped tag"}"#) == .s("escaped tag"))
    }

    @Test func rejectsInvalidValues() {
        let cases: [(String, WireError)] = [
            ("{}", .invalidField(field: "AttributeValue", reason: .emptyAttributeValue)),
            (#"{"X":"1"}"#, .invalidField(field: "AttributeValue", reason: .emptyAttributeValue)),
            (#"{"S":"a","N":"1"}"#, .invalidField(field: "AttributeValue", reason: .multipleDatatypes)),
            (#"{"S":1}"#, .wrongType(field: "AttributeValue", expected: .string, found: .number)),
            (#"{"BOOL":"true"}"#, .wrongType(field: "AttributeValue", expected: .bool, found: .string)),
            (#"{"NULL":false}"#, .invalidField(field: "AttributeValue", reason: .nullNotTrue)),
            (#"{"N":"abc"}"#, .invalidField(field: "AttributeValue", reason: .invalidNumber)),
            (#"{"N":""}"#, .invalidField(field: "AttributeValue", reason: .invalidNumber)),
            (#"{"N":"1e400"}"#, .invalidField(field: "AttributeValue", reason: .numberOverflow)),
            (#"{"N":"1e-131"}"#, .invalidField(field: "AttributeValue", reason: .numberUnderflow)),
            (
                #"{"N":"123456789012345678901234567890123456789"}"#,
                .invalidField(field: "AttributeValue", reason: .numberTooPrecise)
            ),
            (#"{"SS":[]}"#, .invalidField(field: "AttributeValue", reason: .emptySet)),
            (#"{"NS":["1","x"]}"#, .invalidField(field: "AttributeValue", reason: .invalidNumber)),
            (#"{"L":{}}"#, .wrongType(field: "AttributeValue", expected: .array, found: .object)),
            (#"{"M":{"a":{"S":"1"},"a":{"S":"2"}}}"#, .invalidField(field: "AttributeValue", reason: .duplicate)),
            (#"["S"]"#, .wrongType(field: "AttributeValue", expected: .object, found: .array)),
        ]
        for (text, expected) in cases {
            #expect(wireError { () throws(WireError) in try parse(text) } == expected, "\(text)")
        }
    }

    @Test func largeMapsFindRepeatedNames() {
        var text = #"{"M":{"#
        for index in 0..<40 { text += #""a\#(index)":{"N":"\#(index)"},"# }
        let unique = text + #""last":{"NULL":true}}}"#
        let repeated = text + #""a3":{"NULL":true}}}"#
        #expect(wireError { () throws(WireError) in try parse(unique) } == nil)
        #expect(
            wireError { () throws(WireError) in try parse(repeated) }
                == .invalidField(field: "AttributeValue", reason: .duplicate))
    }

    @Test func attributeMapKeepsOrderAndLooksUpByName() throws {
        let map = try AttributeMap(parsing: buffer(#"{"z":{"S":"1"},"a":{"N":"2"},"m":{"BOOL":true}}"#))
        #expect(map.entries.map(\.name) == ["z", "a", "m"])
        #expect(map["a"] == .n("2"))
        #expect(map["missing"] == nil)
        var edited = map
        edited["a"] = nil
        edited["new"] = .null
        edited["z"] = .s("9")
        #expect(edited.entries.map(\.name) == ["z", "m", "new"])
        #expect(edited["z"] == .s("9"))
        var out = ByteBuffer()
        map.encode(into: &out)
        #expect(String(buffer: out) == #"{"z":{"S":"1"},"a":{"N":"2"},"m":{"BOOL":true}}"#)
    }
}
