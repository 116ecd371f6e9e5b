import Testing

@testable import DynamoWire

/// Which spellings the cache may store from a request: only those DynamoDB itself answers.
@Suite struct StoredFormTests {
    @Test(arguments: ["0", "7", "-7", "10", "100", "2.5", "-0.5", "0.05", "123.456", "1000000000000000000000000000"])
    func numbersDynamoDBAnswersAreInStoredForm(_ text: String) {
        #expect(DynamoNumber.isInStoredForm(text))
    }

    @Test(arguments: [
        "2.50", "2.0", "007", "00", "-0", "-0.0", "0.0", "+5", "1e2", "1E+2", "1.5E-3", ".5", "5.", "-", "", "0x1",
    ])
    func trimmedOrRewrittenNumbersAreNot(_ text: String) {
        #expect(!DynamoNumber.isInStoredForm(text))
    }

    @Test(arguments: ["", "AA==", "AAA=", "AAAA", "AQID", "/+8=", "SGVsbG8sIHdvcmxk"])
    func paddedCanonicalBase64IsInStoredForm(_ text: String) {
        #expect(Base64.isInStoredForm(text))
    }

    @Test(arguments: [
        "AA",  // unpadded
        "AAA",
        "AB==",  // bits set beyond the one byte encoded
        "AAB=",
        "A===",
        "AA=A",
        "A AA",
        "AA==AA==",
        "AA\n=",
    ])
    func otherBase64SpellingsAreNot(_ text: String) {
        #expect(!Base64.isInStoredForm(text))
    }

    @Test func everyPlaceANumberOrBinaryCanHideIsChecked() {
        let good: AttributeValue = .m([
            "n": .n("1.5"), "b": .b("AA=="), "s": .s("2.50"), "ss": .ss(["007"]), "l": .l([.bool(true), .null]),
        ])
        #expect(good.isInStoredForm)
        let hidden: [(String, AttributeValue)] = [
            ("top-level number", .n("2.50")),
            ("top-level binary", .b("AA")),
            ("number set element", .ns(["1", "2.50"])),
            ("binary set element", .bs(["AA==", "AB=="])),
            ("number in a list", .l([.s("x"), .n("1e2")])),
            ("number in a map", .m(["a": .s("x"), "b": .n("+1")])),
            ("binary deep in lists and maps", .l([.m(["x": .l([.m(["y": .b("AAA")])])])])),
            ("number set in a map in a list", .l([.m(["ns": .ns(["-0"])])])),
        ]
        for (place, value) in hidden {
            #expect(!value.isInStoredForm, "\(place)")
            let item: AttributeMap = ["id": .s("a"), "v": value]
            #expect(!item.isInStoredForm, "\(place) in an item")
        }
        #expect(!(["id": .n("01")] as AttributeMap).isInStoredForm, "a key attribute")
    }
}
