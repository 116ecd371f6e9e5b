import DynamoWire
import Testing

@Suite struct KeyConditionTests {
    @Test func equalityTermsArePinned() {
        #expect(KeyCondition.equalityPlaceholders(in: "pk = :p") == [":p"])
        #expect(KeyCondition.equalityPlaceholders(in: "#pk = :p AND sk > :s") == [":p"])
        #expect(KeyCondition.equalityPlaceholders(in: ":p = pk and begins_with(sk, :prefix)") == [":p"])
        #expect(KeyCondition.equalityPlaceholders(in: "pk = :p AND sk BETWEEN :a AND :b") == [":p"])
        #expect(KeyCondition.equalityPlaceholders(in: "pk=:p AND sk=:s") == [":p", ":s"])
        #expect(KeyCondition.equalityPlaceholders(in: "(pk = :p)") == [":p"])
    }

    @Test func anythingUnclearPinsNothing() {
        #expect(KeyCondition.equalityPlaceholders(in: "sk > :s") == nil)
        #expect(KeyCondition.equalityPlaceholders(in: "pk = :p OR pk = :q") == nil)
        #expect(KeyCondition.equalityPlaceholders(in: "size(pk) = :p") == nil)
        #expect(KeyCondition.equalityPlaceholders(in: "pk = :p AND sk <> :s") == [":p"])
        #expect(KeyCondition.equalityPlaceholders(in: "pk = pk2") == nil)
        #expect(KeyCondition.equalityPlaceholders(in: "pk = :p ; drop") == nil)
        #expect(KeyCondition.equalityPlaceholders(in: "") == nil)
    }

    @Test func keyValueHashesFollowDynamoDBEquality() {
        #expect(KeyValueHash.of(.n("1")) == KeyValueHash.of(.n("1.0")))
        #expect(KeyValueHash.of(.s("1")) != KeyValueHash.of(.n("1")))
        #expect(KeyValueHash.of(.s("a")) != KeyValueHash.of(.s("b")))
        #expect(KeyValueHash.of(.bool(true)) == nil)
        #expect(KeyValueHash.of(.s("")) == nil)  // not a valid key value
    }
}
