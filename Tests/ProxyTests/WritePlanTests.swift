import DynamoWire
import NIOCore
import Testing

@testable import Proxy

/// The write plans as plain functions: operation × outcome × what is known of the table's key, each row the
/// effects the caches must see. No event loop, no store.
@Suite struct WritePlanTests {
    static let table = "users"
    static let confirmed = SchemaSnapshot([table: TableRegistry.Schema(confirmed: ["id"])])
    static let candidate = SchemaSnapshot([table: TableRegistry.Schema(candidates: [["id"], ["pk"]])])
    static let unknown = SchemaSnapshot()

    static func key(_ id: String, table: String = table) -> ItemKey {
        let attributes: AttributeMap = ["id": .s(id)]
        return ItemKey(table: table, key: try! CanonicalKey(attributes))
    }

    static func pages(_ ids: String..., table: String = table) -> CacheEffect {
        .stalePages(table: table, partitions: ids.map { AttributeValue.s($0) }.partitionHashes)
    }

    static let ok = WriteOutcome.applied(ByteBuffer(string: "{}"))

    // MARK: PutItem

    static let itemA: AttributeMap = ["id": .s("a"), "v": .n("1")]

    static func put(_ item: String = #"{"id":{"S":"a"},"v":{"N":"1"}}"#) -> PutItemRequest {
        try! PutItemRequest(parsing: ByteBuffer(string: #"{"TableName":"users","Item":"# + item + "}"))
    }

    @Test func putItem() {
        let a = Self.key("a")
        let staleA = Self.pages("a")
        let anyPage = CacheEffect.stalePages(table: Self.table, partitions: nil)
        let rows: [(String, begin: SchemaSnapshot, end: SchemaSnapshot, WriteOutcome, [CacheEffect])] = [
            (
                "stored when the key was confirmed throughout", Self.confirmed, Self.confirmed, Self.ok,
                [staleA, .storeItem(a, Self.itemA)]
            ),
            (
                "not stored when the key was learnt during the write", Self.unknown, Self.confirmed, Self.ok,
                [staleA, .evict(a)]
            ),
            ("a candidate key only evicts", Self.candidate, Self.candidate, Self.ok, [anyPage, .evict(a)]),
            ("no schema: nothing to evict", Self.unknown, Self.unknown, Self.ok, [anyPage]),
            ("nothing written", Self.confirmed, Self.confirmed, .notApplied, [staleA]),
            (
                "condition failed", Self.confirmed, Self.confirmed, .conditionFailed,
                [staleA, .count(.conditionFailed), .evict(a)]
            ),
            (
                "unknown outcome", Self.confirmed, Self.confirmed, .unknown,
                [staleA, .count(.unknownOutcome), .evict(a)]
            ),
            (
                "missing table", Self.confirmed, Self.confirmed, .tableNotFound,
                [staleA, .forgetTable("users", .notFound)]
            ),
        ]
        for (what, begin, end, outcome, expected) in rows {
            let plan = PutItemPlan(Self.put(), schemas: begin)
            #expect(plan.effects(of: outcome, schemas: end) == expected, "\(what)")
        }
        #expect(PutItemPlan(Self.put(), schemas: Self.confirmed).begins == [a])
        #expect(PutItemPlan(Self.put(), schemas: Self.candidate).begins == [])
    }

    @Test func putItemOfAnItemNotInTheServersSpellingEvicts() {
        let plan = PutItemPlan(Self.put(#"{"id":{"S":"a"},"v":{"N":"1.0"}}"#), schemas: Self.confirmed)
        #expect(
            plan.effects(of: Self.ok, schemas: Self.confirmed) == [
                Self.pages("a"), .count(.nonCanonical), .evict(Self.key("a")),
            ])
    }

    // MARK: UpdateItem and DeleteItem

    static func keyed(_ returnValues: String?) -> KeyedWriteRequest {
        let member = returnValues.map { #","ReturnValues":"\#($0)""# } ?? ""
        return try! KeyedWriteRequest(
            parsing: ByteBuffer(string: #"{"TableName":"users","Key":{"id":{"S":"a"}}"# + member + "}"))
    }

    @Test func updateItem() {
        let a = Self.key("a")
        let newItem = #"{"Attributes":{"id":{"S":"a"},"v":{"N":"2"}}}"#
        let answered = WriteOutcome.applied(ByteBuffer(string: newItem))
        let itemJSON = ByteBuffer(string: #"{"id":{"S":"a"},"v":{"N":"2"}}"#)
        let confirm = CacheEffect.confirmSchema(table: Self.table, attributes: ["id"])
        let rows: [(String, returnValues: String?, mayRewrite: Bool, WriteOutcome, asks: Bool, [CacheEffect])] = [
            (
                "NONE is asked as ALL_NEW and stored", nil, true, answered, true,
                [Self.pages("a"), confirm, .storeItemJSON(a, itemJSON)]
            ),
            ("NONE without rewrites evicts", "NONE", false, Self.ok, false, [Self.pages("a"), confirm, .evict(a)]),
            (
                "ALL_NEW is stored as the caller asked it", "ALL_NEW", false, answered, false,
                [Self.pages("a"), confirm, .storeItemJSON(a, itemJSON)]
            ),
            ("an answer without the item evicts", nil, true, Self.ok, true, [Self.pages("a"), confirm, .evict(a)]),
            (
                "UPDATED_NEW is only part of the item: evicts", "UPDATED_NEW", true, answered, false,
                [Self.pages("a"), confirm, .evict(a)]
            ),
            ("nothing written", nil, true, .notApplied, true, [Self.pages("a")]),
            (
                "condition failed", nil, true, .conditionFailed, true,
                [Self.pages("a"), .count(.conditionFailed), .evict(a)]
            ),
            (
                "missing table", nil, true, .tableNotFound, true,
                [Self.pages("a"), .forgetTable("users", .notFound), .evict(a)]
            ),
        ]
        for (what, returnValues, mayRewrite, outcome, asks, expected) in rows {
            let plan = UpdateItemPlan(Self.keyed(returnValues), mayRewrite: mayRewrite)
            #expect(plan.asksForAllNew == asks, "\(what)")
            #expect(plan.effects(of: outcome, schemas: Self.unknown) == expected, "\(what)")
        }
        #expect(UpdateItemPlan(Self.keyed("ALL_OLD"), mayRewrite: true).begins == [])
        #expect(UpdateItemPlan(Self.keyed(nil), mayRewrite: true).begins == [a])
    }

    @Test func deleteItem() {
        let a = Self.key("a")
        let plan = DeleteItemPlan(Self.keyed(nil))
        #expect(plan.begins == [a])
        let rows: [(WriteOutcome, [CacheEffect])] = [
            (Self.ok, [Self.pages("a"), .confirmSchema(table: Self.table, attributes: ["id"]), .storeAbsent(a)]),
            (.notApplied, [Self.pages("a")]),
            (.conditionFailed, [Self.pages("a"), .count(.conditionFailed), .evict(a)]),
            (.unknown, [Self.pages("a"), .count(.unknownOutcome), .evict(a)]),
            (.tableNotFound, [Self.pages("a"), .forgetTable("users", .notFound), .evict(a)]),
        ]
        for (outcome, expected) in rows {
            #expect(plan.effects(of: outcome, schemas: Self.confirmed) == expected, "\(outcome)")
        }
    }

    // MARK: BatchWriteItem

    static let batch = try! BatchWriteItemRequest(
        parsing: ByteBuffer(
            string: #"""
                {"RequestItems":{"users":[
                  {"PutRequest":{"Item":{"id":{"S":"a"},"v":{"N":"1"}}}},
                  {"PutRequest":{"Item":{"id":{"S":"b"},"v":{"N":"1"}}}},
                  {"DeleteRequest":{"Key":{"id":{"S":"c"}}}},
                  {"DeleteRequest":{"Key":{"id":{"S":"d"}}}}]}}
                """#))

    @Test func batchWriteItemStoresWhatWasProcessedOnly() {
        let (a, b, c, d) = (Self.key("a"), Self.key("b"), Self.key("c"), Self.key("d"))
        let plan = BatchWriteItemPlan(Self.batch, schemas: Self.confirmed)
        #expect(Set(plan.begins) == [a, b, c, d])
        let pages = Self.pages("c", "d", "a", "b")
        let all = plan.effects(of: .applied(ByteBuffer(string: #"{"UnprocessedItems":{}}"#)), schemas: Self.confirmed)
        #expect(
            all == [
                pages, .storeAbsent(c), .storeAbsent(d), .storeItem(a, ["id": .s("a"), "v": .n("1")]),
                .storeItem(b, ["id": .s("b"), "v": .n("1")]),
            ])
        let unprocessed = #"""
            {"UnprocessedItems":{"users":[{"PutRequest":{"Item":{"id":{"S":"b"},"v":{"N":"1"}}}},
              {"DeleteRequest":{"Key":{"id":{"S":"d"}}}}]}}
            """#
        let some = plan.effects(of: .applied(ByteBuffer(string: unprocessed)), schemas: Self.confirmed)
        #expect(some == [pages, .storeAbsent(c), .storeItem(a, ["id": .s("a"), "v": .n("1")])])
    }

    @Test func batchWriteItemFailures() {
        let (a, b, c, d) = (Self.key("a"), Self.key("b"), Self.key("c"), Self.key("d"))
        let plan = BatchWriteItemPlan(Self.batch, schemas: Self.confirmed)
        let pages = Self.pages("c", "d", "a", "b")
        let rows: [(String, WriteOutcome, [CacheEffect])] = [
            ("nothing written", .notApplied, [pages]),
            (
                "an acknowledgement it cannot read is an unknown outcome",
                .applied(ByteBuffer(string: #"{"UnprocessedItems":7}"#)),
                [pages, .count(.unknownOutcome), .evict(c), .evict(d), .evict(a), .evict(b)]
            ),
            (
                "unknown outcome", .unknown,
                [pages, .count(.unknownOutcome), .evict(c), .evict(d), .evict(a), .evict(b)]
            ),
            (
                "missing table", .tableNotFound,
                [pages, .evict(c), .evict(d), .evict(a), .evict(b), .forgetTable("users", .notFound)]
            ),
        ]
        for (what, outcome, expected) in rows {
            #expect(plan.effects(of: outcome, schemas: Self.confirmed) == expected, "\(what)")
        }
    }

    // MARK: TransactWriteItems

    static let transaction = try! TransactWriteItemsRequest(
        parsing: ByteBuffer(
            string: #"""
                {"TransactItems":[
                  {"Put":{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"1"}}}},
                  {"Delete":{"TableName":"users","Key":{"id":{"S":"b"}}}},
                  {"Update":{"TableName":"users","Key":{"id":{"S":"c"}},"UpdateExpression":"SET v = :v",
                    "ExpressionAttributeValues":{":v":{"N":"1"}}}},
                  {"ConditionCheck":{"TableName":"users","Key":{"id":{"S":"d"}},
                    "ConditionExpression":"attribute_exists(id)"}}]}
                """#))

    @Test func transactWriteItems() {
        let (a, b, c, d) = (Self.key("a"), Self.key("b"), Self.key("c"), Self.key("d"))
        let plan = TransactWriteItemsPlan(Self.transaction, schemas: Self.confirmed)
        #expect(plan.begins == [a, b])
        let pages = ["a", "b", "c", "d"].map { Self.pages($0) }
        let rows: [(String, WriteOutcome, [CacheEffect])] = [
            ("success", Self.ok, pages + [.storeItem(a, ["id": .s("a"), "v": .n("1")]), .storeAbsent(b), .evict(c)]),
            ("cancelled", .conditionFailed, pages + [.evict(a), .evict(b), .evict(c), .evict(d)]),
            ("refused", .notApplied, pages + [.evict(a), .evict(b), .evict(c), .evict(d)]),
            (
                "missing table", .tableNotFound,
                pages + [.evict(a), .evict(b), .evict(c), .evict(d)]
                    + Array(repeating: .forgetTable("users", .notFound), count: 4)
            ),
        ]
        for (what, outcome, expected) in rows {
            #expect(plan.effects(of: outcome, schemas: Self.confirmed) == expected, "\(what)")
        }
    }

    // MARK: Writes the proxy cannot map to keys

    @Test func unreadWritesPartiQLAndTableChangesDropWholeTables() {
        #expect(UnreadWritePlan(table: "users").effects(of: .notApplied, schemas: Self.unknown) == [])
        #expect(
            UnreadWritePlan(table: "users").effects(of: Self.ok, schemas: Self.unknown) == [
                .forgetTable("users", .unknownOutcome)
            ])
        #expect(
            UnreadWritePlan(table: nil).effects(of: .unknown, schemas: Self.unknown) == [
                .forgetAllTables(.unknownOutcome)
            ])
        #expect(
            PartiQLWritePlan(writtenTables: ["users"]).effects(of: .notApplied, schemas: Self.unknown) == [
                .count(.partiql), .dropItems(table: "users"), .stalePages(table: "users", partitions: nil),
            ])
        #expect(
            PartiQLWritePlan(writtenTables: nil).effects(of: Self.ok, schemas: Self.unknown) == [
                .count(.partiql), .dropAllItems, .staleAllPages,
            ])
        let created = WriteOutcome.applied(
            ByteBuffer(
                string:
                    #"{"TableDescription":{"TableName":"users","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}}"#
            ))
        #expect(
            TableChangePlan(table: "users").effects(of: created, schemas: Self.unknown) == [
                .forgetTable("users", .tableOperation), .confirmSchema(table: "users", attributes: ["id"]),
            ])
        #expect(
            TableChangePlan(table: nil).effects(of: .unknown, schemas: Self.unknown) == [
                .forgetAllTables(.tableOperation)
            ])
    }
}
