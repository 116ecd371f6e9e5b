import DynamoWire
import NIOCore
import Testing

@Suite struct CanonicalJSONTests {
    func canonical(_ text: String, excluding: Set<String> = []) throws -> String? {
        try CanonicalJSON.encode(JSONObject(parsing: ByteBuffer(string: text)), excluding: excluding).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    @Test func memberOrderWhitespaceAndEscapesDoNotMatter() throws {
        let a = try canonical(
            #"{"TableName":"t","KeyConditionExpression":"pk = :v","ExpressionAttributeValues":{":v":{"S":"x"}},"Limit":5}"#
        )
        let b = try canonical(
            #" { "Limit" : 5, "ExpressionAttributeValues" : { ":v" : { "S" : "\u0078" } } ,"KeyConditionExpression":"pk = :v", "Table\u004eame":"t" } "#
        )
        #expect(a != nil)
        #expect(a == b)
        #expect(
            a
                == #"{"ExpressionAttributeValues":{":v":{"S":"x"}},"KeyConditionExpression":"pk = :v","Limit":5,"TableName":"t"}"#
        )
    }

    @Test func valuesAndArrayOrderDoMatter() throws {
        #expect(try canonical(#"{"a":[1,2]}"#) != canonical(#"{"a":[2,1]}"#))
        #expect(try canonical(#"{"a":"x"}"#) != canonical(#"{"a":"y"}"#))
        #expect(try canonical(#"{"ScanIndexForward":true}"#) != canonical(#"{"ScanIndexForward":false}"#))
    }

    @Test func excludedTopLevelMembersAreLeftOut() throws {
        let withCapacity = try canonical(
            #"{"TableName":"t","ReturnConsumedCapacity":"TOTAL"}"#, excluding: ["ReturnConsumedCapacity"])
        #expect(withCapacity == #"{"TableName":"t"}"#)
        // Only at the top level: a nested member of that name is data.
        let nested = try canonical(#"{"M":{"ReturnConsumedCapacity":1}}"#, excluding: ["ReturnConsumedCapacity"])
        #expect(nested == #"{"M":{"ReturnConsumedCapacity":1}}"#)
    }

    @Test func repeatedMembersAreNotCanonicalised() throws {
        #expect(try canonical(#"{"a":1,"a":2}"#) == nil)
        #expect(try canonical(#"{"m":{"x":1,"x":1}}"#) == nil)
    }
}
