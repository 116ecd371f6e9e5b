import NIOCore
import Testing

@testable import DynamoWire

/// Projections applied to the item that the moto checks used (see the expected answers), plus DynamoDB's
/// documented merging of several paths into one list, where moto deviates.
@Suite struct ProjectionPlanTests {
    /// `{"pk":"a","m":{"x":1,"y":["y0","y1",{"z":"Z","w":"W"}]},"l":["l0","l1","l2",{"q":3}],"s":"str"}`.
    static let item = try! AttributeMap(
        parsing: buffer(
            ##"{"pk": {"S": "a"}, "m": {"M": {"x": {"N": "1"}, "y": {"L": [{"S": "y0"}, {"S": "y1"}, {"M": {"z": {"S": "Z"}, "w": {"S": "W"}}}]}}}, "l": {"L": [{"S": "l0"}, {"S": "l1"}, {"S": "l2"}, {"M": {"q": {"N": "3"}}}]}, "s": {"S": "str"}}"##
        )
    )

    /// The stored form of `item`, spaced as moto sends it.
    static let itemJSON = buffer(
        ##"{"pk": {"S": "a"}, "m": {"M": {"x": {"N": "1"}, "y": {"L": [{"S": "y0"}, {"S": "y1"}, {"M": {"z": {"S": "Z"}, "w": {"S": "W"}}}]}}}, "l": {"L": [{"S": "l0"}, {"S": "l1"}, {"S": "l2"}, {"M": {"q": {"N": "3"}}}]}, "s": {"S": "str"}}"##
    )

    /// The item projected by `expression` with `names`, encoded; nil when the plan is refused. Also checks that
    /// projecting the item's bytes gives the same item.
    func project(_ expression: String, names: [String: String]? = nil) -> String? {
        guard let plan = ProjectionPlan(Projection(projectionExpression: expression, expressionAttributeNames: names))
        else { return nil }
        let projected = plan.apply(to: Self.item)
        let fromBytes = plan.apply(toItemJSON: Self.itemJSON, allocator: ByteBufferAllocator())
        #expect((try? AttributeMap(parsing: fromBytes)) == projected, "\(expression): \(String(buffer: fromBytes))")
        var out = ByteBuffer()
        projected.encode(into: &out)
        return String(buffer: out)
    }

    @Test func topLevelAttributesKeepItemOrder() {
        #expect(project("s, pk") == #"{"pk":{"S":"a"},"s":{"S":"str"}}"#)
        #expect(project("  s ,\tpk\n") == #"{"pk":{"S":"a"},"s":{"S":"str"}}"#)
    }

    @Test func nestedPathsAndMerges() {
        // moto: {"m": {"M": {"x": {"N": "1"}, "y": {"L": [{"S": "y1"}]}}}}.
        #expect(project("m.x, m.y[1]") == #"{"m":{"M":{"x":{"N":"1"},"y":{"L":[{"S":"y1"}]}}}}"#)
        #expect(project("m.y[2].z") == #"{"m":{"M":{"y":{"L":[{"M":{"z":{"S":"Z"}}}]}}}}"#)
        // Several indexes into one list: the selected elements in index order, compacted (DynamoDB; moto keeps
        // only the last path into the list).
        #expect(
            project("m.y[2].z, l[2], l[0]")
                == #"{"m":{"M":{"y":{"L":[{"M":{"z":{"S":"Z"}}}]}}},"l":{"L":[{"S":"l0"},{"S":"l2"}]}}"#
        )
        #expect(project("l[3].q, l[1]") == #"{"l":{"L":[{"S":"l1"},{"M":{"q":{"N":"3"}}}]}}"#)
        #expect(project("m.y[2].w, m.y[2].z") == #"{"m":{"M":{"y":{"L":[{"M":{"z":{"S":"Z"},"w":{"S":"W"}}}]}}}}"#)
    }

    @Test func missingSelectsNothing() {
        // moto answers {"Item": {}} for each of these.
        for expression in ["m.nope", "l[9]", "nope", "s.x", "s[0]", "m[0]", "l.x", "m.y[7].z", "m.y[0].z"] {
            #expect(project(expression) == "{}", "\(expression)")
        }
        // The element that exists is kept; the one past the end is not.
        #expect(project("l[1], l[100]") == #"{"l":{"L":[{"S":"l1"}]}}"#)
        #expect(project("nope, s") == #"{"s":{"S":"str"}}"#)
    }

    @Test func placeholders() {
        #expect(
            project("#m.#x, #s", names: ["#m": "m", "#x": "x", "#s": "s"])
                == #"{"m":{"M":{"x":{"N":"1"}}},"s":{"S":"str"}}"#)
        // Placeholders for reserved words and for names that are not identifiers.
        let item: AttributeMap = ["name": .s("n"), "a.b": .s("dotted"), "a": .m(["b": .s("nested")])]
        let plan = ProjectionPlan(
            Projection(projectionExpression: "#n, #ab", expressionAttributeNames: ["#n": "name", "#ab": "a.b"])
        )
        #expect(plan?.apply(to: item) == ["name": .s("n"), "a.b": .s("dotted")])
        // A placeholder used twice counts as used.
        #expect(project("#m.x, #m.y[0]", names: ["#m": "m"]) == #"{"m":{"M":{"x":{"N":"1"},"y":{"L":[{"S":"y0"}]}}}}"#)
        #expect(project("_private, a_1") == "{}")
    }

    @Test func attributesToGet() {
        let plan = ProjectionPlan(Projection(attributesToGet: ["s", "nope", "m"]))
        #expect(plan?.apply(to: Self.item) == ["m": Self.item["m"]!, "s": .s("str")])
        // Legacy names are literal: a dot is part of the name, and reserved words are fine.
        let dotted = ProjectionPlan(Projection(attributesToGet: ["m.x", "NAME"]))
        #expect(
            dotted?.apply(to: ["m.x": .n("1"), "m": .m(["x": .n("2")]), "NAME": .null]) == [
                "m.x": .n("1"), "NAME": .null,
            ])
    }

    @Test func wholeItem() throws {
        let plan = try #require(ProjectionPlan(Projection()))
        #expect(plan.isWholeItem)
        #expect(plan.apply(to: Self.item) == Self.item)
        #expect(ProjectionPlan(Projection(projectionExpression: "s"))?.isWholeItem == false)
    }

    @Test func rejected() {
        let refused: [(String, [String: String]?)] = [
            ("", nil),
            ("   ", nil),
            ("s,", nil),
            (",s", nil),
            ("s,,pk", nil),
            ("s pk", nil),
            ("m.", nil),
            ("m..x", nil),
            (".m", nil),
            ("l[]", nil),
            ("l[-1]", nil),
            ("l[1", nil),
            ("l[a]", nil),
            ("l[1234567890]", nil),
            ("[0]", nil),
            ("m . x", nil),
            ("l [0]", nil),
            ("1abc", nil),
            ("a-b", nil),
            ("caf\u{e9}", nil),
            ("#", [:]),
            // Reserved words, in any case, anywhere in a path.
            ("name", nil),
            ("Name", nil),
            ("m.status", nil),
            ("s, COMMENT", nil),
            // Placeholders: undefined, unused, empty map, empty name.
            ("#x", nil),
            ("#x", ["#y": "y"]),
            ("#x", ["#x": "x", "#y": "y"]),
            ("s", ["#s": "s"]),
            ("s", [:]),
            ("#x", ["#x": ""]),
            // Overlapping paths.
            ("s, s", nil),
            ("m, m.x", nil),
            ("m.x, m", nil),
            ("l[0], l[0]", nil),
            ("l[0].q, l[0]", nil),
            ("#a, a", ["#a": "a"]),
            // Conflicting paths.
            ("l[0], l.x", nil),
            ("m.x, m[0]", nil),
        ]
        for (expression, names) in refused {
            #expect(
                ProjectionPlan(Projection(projectionExpression: expression, expressionAttributeNames: names)) == nil,
                "\(expression) \(String(describing: names))"
            )
        }
        #expect(ProjectionPlan(Projection(expressionAttributeNames: ["#a": "a"])) == nil)
        #expect(ProjectionPlan(Projection(attributesToGet: ["a", "a"])) == nil)
        #expect(ProjectionPlan(Projection(attributesToGet: [])) == nil)
        #expect(ProjectionPlan(Projection(attributesToGet: [""])) == nil)
        #expect(ProjectionPlan(Projection(expressionAttributeNames: ["#a": "a"], attributesToGet: ["a"])) == nil)
        #expect(ProjectionPlan(Projection(projectionExpression: "a", attributesToGet: ["a"])) == nil)
        #expect(ProjectionPlan(Projection(projectionExpression: String(repeating: "a", count: 4097))) == nil)
        let deep = (["a"] + Array(repeating: "b", count: 32)).joined(separator: ".")
        #expect(ProjectionPlan(Projection(projectionExpression: deep)) == nil)
        let deepest = (["a"] + Array(repeating: "b", count: 31)).joined(separator: ".")
        #expect(ProjectionPlan(Projection(projectionExpression: deepest)) != nil)
    }

    @Test func reservedWords() {
        #expect(ProjectionPlan.reservedWords.count == 573)
        for word in ["ABORT", "ZONE", "NAME", "NAMES", "STATUS", "DATA", "TTL", "KEYS", "VALUE"] {
            #expect(ProjectionPlan.reservedWords.contains(word), "\(word)")
        }
        #expect(!ProjectionPlan.reservedWords.contains("EMAIL"))
        // Words that merely contain or prefix a reserved word are fine.
        #expect(ProjectionPlan(Projection(projectionExpression: "named, statusCode, data_1")) != nil)
    }

    @Test func bytesAreSplicedAsStored() throws {
        let plan = try #require(ProjectionPlan(Projection(projectionExpression: "s, m.y[2].z, l[0]")))
        let projected = plan.apply(toItemJSON: Self.itemJSON, allocator: ByteBufferAllocator())
        #expect(
            String(buffer: projected)
                == ##"{"m":{"M":{"y":{"L":[{"M":{"z":{"S": "Z"}}}]}}},"l":{"L":[{"S": "l0"}]},"s":{"S": "str"}}"##
        )
        let whole = try #require(ProjectionPlan(Projection()))
        #expect(whole.apply(toItemJSON: Self.itemJSON, allocator: ByteBufferAllocator()) == Self.itemJSON)
        // Unknown and null members of an attribute value are not its datatype.
        let odd = buffer(##"{"m": {"X": {}, "L": null, "M": {"a": {"S": "1"}}}}"##)
        let nested = try #require(ProjectionPlan(Projection(projectionExpression: "m.a")))
        #expect(
            String(buffer: nested.apply(toItemJSON: odd, allocator: ByteBufferAllocator()))
                == ##"{"m":{"M":{"a":{"S": "1"}}}}"##)
        let listPlan = try #require(ProjectionPlan(Projection(projectionExpression: "m[0]")))
        #expect(String(buffer: listPlan.apply(toItemJSON: odd, allocator: ByteBufferAllocator())) == "{}")
    }

    @Test func listSelectionOrderIsByIndexWhateverThePathOrder() {
        let list: AttributeMap = ["l": .l((0..<6).map { .n("\($0)") })]
        let plan = ProjectionPlan(Projection(projectionExpression: "l[5], l[1], l[3]"))
        #expect(plan?.apply(to: list) == ["l": .l([.n("1"), .n("3"), .n("5")])])
    }
}
