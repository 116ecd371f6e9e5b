import NIOCore
import Testing

@testable import DynamoWire

/// Bodies as boto3 sends them: `json.dumps` with its default separators and `ensure_ascii`, so non-ASCII text
/// arrives as `\u` escapes.
@Suite struct RequestTests {
    @Test func getItem() throws {
        let body =
            ##"{"TableName": "users", "Key": {"pk": {"S": "user#caf\u00e9"}, "sk": {"N": "1.50"}}, "ConsistentRead": true, "ProjectionExpression": "#n, email", "ExpressionAttributeNames": {"#n": "name"}, "ReturnConsumedCapacity": "TOTAL"}"##
        let request = try GetItemRequest(parsing: buffer(body))
        #expect(request.tableName == "users")
        #expect(request.key.attributes == ["pk": .s("user#café"), "sk": .n("1.50")])
        #expect(request.key.canonical == (try CanonicalKey(["sk": .n("1.5"), "pk": .s("user#café")])))
        #expect(request.consistentRead)
        #expect(request.projection.projectionExpression == "#n, email")
        #expect(request.projection.expressionAttributeNames == ["#n": "name"])
        #expect(request.projection.attributesToGet == nil)
        #expect(!request.projection.isWholeItem)
        #expect(request.returnConsumedCapacity == "TOTAL")
    }

    @Test func getItemDefaultsAndLegacyProjection() throws {
        let request = try GetItemRequest(
            parsing: buffer(##"{"TableName": "t", "Key": {"id": {"B": "AAE="}}, "AttributesToGet": ["a", "b"]}"##)
        )
        #expect(!request.consistentRead)
        #expect(request.projection.attributesToGet == ["a", "b"])
        #expect(request.returnConsumedCapacity == nil)
        let plain = try GetItemRequest(parsing: buffer(##"{"TableName":"t","Key":{"id":{"S":"1"}}}"##))
        #expect(plain.projection.isWholeItem)
    }

    @Test func getItemErrors() {
        let cases: [(String, WireError)] = [
            (##"{"Key": {"id": {"S": "1"}}}"##, .invalidField(field: "TableName", reason: .missing)),
            (##"{"TableName": "t"}"##, .invalidField(field: "Key", reason: .missing)),
            (##"{"TableName": "t", "Key": null}"##, .invalidField(field: "Key", reason: .missing)),
            (
                ##"{"TableName": ["t"], "Key": {"id": {"S": "1"}}}"##,
                .wrongType(field: "TableName", expected: .string, found: .array)
            ),
            (##"{"TableName": "t", "Key": []}"##, .wrongType(field: "Key", expected: .object, found: .array)),
            (##"{"TableName": "t", "Key": {"id": {}}}"##, .invalidField(field: "Key", reason: .emptyAttributeValue)),
            (
                ##"{"TableName": "t", "Key": {"id": {"BOOL": true}}}"##,
                .invalidField(field: "Key", reason: .keyMismatch)
            ),
            (##"{"TableName": "t", "Key": {}}"##, .invalidField(field: "Key", reason: .keyMismatch)),
            (
                ##"{"TableName": "t", "Key": {"id": {"S": "1"}}, "ConsistentRead": "yes"}"##,
                .wrongType(field: "ConsistentRead", expected: .bool, found: .string)
            ),
            (
                ##"{"TableName": "t", "Key": {"id": {"S": "1"}}, "Key": {"id": {"S": "2"}}}"##,
                .invalidField(field: "Key", reason: .duplicate)
            ),
            (
                ##"{"TableName": "t", "Key": {"id": {"S": "1"}}, "ExpressionAttributeNames": {"#a": 1}}"##,
                .wrongType(field: "ExpressionAttributeNames", expected: .string, found: .number)
            ),
            ("[]", .notAnObject),
            (##"{"TableName": "t", "Key": {"id": {"S": "1"}}"##, .truncated),
        ]
        for (body, expected) in cases {
            #expect(
                wireError { () throws(WireError) in try GetItemRequest(parsing: buffer(body)) } == expected, "\(body)")
        }
    }

    @Test func batchGetItem() throws {
        let body =
            ##"{"RequestItems": {"users": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}], "ConsistentRead": true, "ProjectionExpression": "pk, #s", "ExpressionAttributeNames": {"#s": "status"}}, "orders": {"Keys": [{"id": {"N": "10"}, "line": {"N": "1"}}]}}, "ReturnConsumedCapacity": "INDEXES"}"##
        let request = try BatchGetItemRequest(parsing: buffer(body))
        #expect(request.tables.map(\.tableName) == ["users", "orders"])
        #expect(request.tables[0].keys.map(\.attributes) == [["pk": .s("a")], ["pk": .s("b")]])
        #expect(request.tables[0].consistentRead)
        #expect(request.tables[0].projection.expressionAttributeNames == ["#s": "status"])
        #expect(!request.tables[1].consistentRead)
        #expect(request.tables[1].keys[0].canonical == (try CanonicalKey(["line": .n("1"), "id": .n("1e1")])))
        #expect(request.returnConsumedCapacity == "INDEXES")
        #expect(try JSONObject(parsing: buffer(body)).tableName() == nil)
    }

    @Test func batchGetItemErrors() {
        let cases: [(String, WireError)] = [
            ("{}", .invalidField(field: "RequestItems", reason: .missing)),
            (##"{"RequestItems": {}}"##, .invalidField(field: "RequestItems", reason: .empty)),
            (##"{"RequestItems": {"t": {"Keys": []}}}"##, .invalidField(field: "Keys", reason: .empty)),
            (##"{"RequestItems": {"t": {}}}"##, .invalidField(field: "Keys", reason: .missing)),
            (
                ##"{"RequestItems": {"t": {"Keys": [{"k": {"S": "1"}}]}, "t": {"Keys": [{"k": {"S": "2"}}]}}}"##,
                .invalidField(field: "RequestItems", reason: .duplicate)
            ),
            (
                ##"{"RequestItems": {"t": {"Keys": [{"k": {"M": {}}}]}}}"##,
                .invalidField(field: "Keys", reason: .keyMismatch)
            ),
        ]
        for (body, expected) in cases {
            #expect(
                wireError { () throws(WireError) in try BatchGetItemRequest(parsing: buffer(body)) } == expected,
                "\(body)")
        }
    }

    @Test func putItem() throws {
        let body =
            ##"{"TableName": "users", "Item": {"pk": {"S": "user#1"}, "name": {"S": "J\u00fcrgen \ud83d\ude00"}, "age": {"N": "42"}, "tags": {"SS": ["a", "b"]}, "profile": {"M": {"active": {"BOOL": true}, "nick": {"NULL": true}, "scores": {"L": [{"N": "1"}, {"N": "2.5"}]}}}, "avatar": {"B": "iVBORw0KGgo="}}, "ConditionExpression": "attribute_not_exists(pk)", "ReturnValues": "ALL_OLD"}"##
        let request = try PutItemRequest(parsing: buffer(body))
        #expect(request.tableName == "users")
        #expect(request.item.entries.map(\.name) == ["pk", "name", "age", "tags", "profile", "avatar"])
        #expect(request.item["name"] == .s("Jürgen 😀"))
        #expect(
            request.item["profile"] == .m(["active": .bool(true), "nick": .null, "scores": .l([.n("1"), .n("2.5")])]))
        #expect(request.item.primaryKey(named: ["pk"]) == (try CanonicalKey(["pk": .s("user#1")])))
        #expect(try JSONObject(parsing: buffer(body)).tableName() == "users")

        #expect(
            wireError { () throws(WireError) in try PutItemRequest(parsing: buffer(##"{"TableName": "t"}"##)) }
                == .invalidField(field: "Item", reason: .missing))
    }

    @Test func updateAndDeleteItem() throws {
        let update = try KeyedWriteRequest(
            parsing: buffer(
                ##"{"TableName": "users", "Key": {"pk": {"S": "user#1"}}, "UpdateExpression": "SET #n = :v", "ExpressionAttributeNames": {"#n": "name"}, "ExpressionAttributeValues": {":v": {"S": "Ann"}}, "ReturnValues": "UPDATED_NEW"}"##
            )
        )
        #expect(update.tableName == "users")
        #expect(update.key.attributes == ["pk": .s("user#1")])
        #expect(update.returnValues == "UPDATED_NEW")

        let delete = try KeyedWriteRequest(
            parsing: buffer(
                ##"{"TableName": "users", "Key": {"pk": {"S": "user#1"}, "sk": {"S": "profile"}}, "ConditionExpression": "attribute_exists(pk)"}"##
            )
        )
        #expect(delete.key.canonical == (try CanonicalKey(["sk": .s("profile"), "pk": .s("user#1")])))
        #expect(delete.returnValues == nil)
        #expect(
            wireError { () throws(WireError) in try KeyedWriteRequest(parsing: buffer(##"{"TableName": "t"}"##)) }
                == .invalidField(field: "Key", reason: .missing))
    }

    @Test func batchWriteItem() throws {
        let body =
            ##"{"RequestItems": {"users": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}], "logs": [{"PutRequest": {"Item": {"id": {"N": "7"}}}}]}}"##
        let request = try BatchWriteItemRequest(parsing: buffer(body))
        #expect(request.tables.map(\.tableName) == ["users", "logs"])
        #expect(request.tables[0].puts == [["pk": .s("a"), "v": .n("1")]])
        #expect(request.tables[0].deletes.map(\.attributes) == [["pk": .s("b")]])
        #expect(request.tables[1].puts == [["id": .n("7")]])
        #expect(request.tables[1].deletes.isEmpty)

        let cases: [(String, WireError)] = [
            (
                ##"{"RequestItems": {"t": [{}]}}"##,
                .invalidField(field: "RequestItems", reason: .exactlyOneOf(["PutRequest", "DeleteRequest"]))
            ),
            (
                ##"{"RequestItems": {"t": [{"PutRequest": {"Item": {"a": {"S": "1"}}}, "DeleteRequest": {"Key": {"a": {"S": "1"}}}}]}}"##,
                .invalidField(field: "RequestItems", reason: .exactlyOneOf(["PutRequest", "DeleteRequest"]))
            ),
            (##"{"RequestItems": {"t": []}}"##, .invalidField(field: "RequestItems", reason: .empty)),
            (##"{"RequestItems": {"t": {}}}"##, .wrongType(field: "RequestItems", expected: .array, found: .object)),
            (##"{"RequestItems": {"t": [{"DeleteRequest": {}}]}}"##, .invalidField(field: "Key", reason: .missing)),
        ]
        for (body, expected) in cases {
            #expect(
                wireError { () throws(WireError) in try BatchWriteItemRequest(parsing: buffer(body)) } == expected,
                "\(body)")
        }
    }

    @Test func transactWriteItems() throws {
        let body =
            ##"{"TransactItems": [{"ConditionCheck": {"TableName": "accounts", "Key": {"id": {"S": "a1"}}, "ConditionExpression": "attribute_exists(id)"}}, {"Put": {"TableName": "orders", "Item": {"id": {"S": "o1"}, "total": {"N": "9.99"}}}}, {"Update": {"TableName": "accounts", "Key": {"id": {"S": "a2"}}, "UpdateExpression": "SET balance = balance - :t", "ExpressionAttributeValues": {":t": {"N": "9.99"}}}}, {"Delete": {"TableName": "carts", "Key": {"id": {"S": "c1"}}}}], "ClientRequestToken": "tok-1"}"##
        let request = try TransactWriteItemsRequest(parsing: buffer(body))
        #expect(request.items.map(\.tableName) == ["accounts", "orders", "accounts", "carts"])
        #expect(request.items[0].action == .conditionCheck(try PrimaryKey(["id": .s("a1")])))
        #expect(request.items[1].action == .put(["id": .s("o1"), "total": .n("9.99")]))
        #expect(request.items[2].action == .update(try PrimaryKey(["id": .s("a2")])))
        #expect(request.items[3].action == .delete(try PrimaryKey(["id": .s("c1")])))

        let oneOf = WireError.invalidField(
            field: "TransactItems",
            reason: .exactlyOneOf(["ConditionCheck", "Put", "Update", "Delete"])
        )
        let cases: [(String, WireError)] = [
            (##"{"TransactItems": []}"##, .invalidField(field: "TransactItems", reason: .empty)),
            (##"{"TransactItems": [{}]}"##, oneOf),
            (
                ##"{"TransactItems": [{"Put": {"TableName": "t", "Item": {"a": {"S": "1"}}}, "Delete": {"TableName": "t", "Key": {"a": {"S": "1"}}}}]}"##,
                oneOf
            ),
            (
                ##"{"TransactItems": [{"Put": {"Item": {"a": {"S": "1"}}}}]}"##,
                .invalidField(field: "TableName", reason: .missing)
            ),
            (##"{"TransactItems": {}}"##, .wrongType(field: "TransactItems", expected: .array, found: .object)),
        ]
        for (body, expected) in cases {
            #expect(
                wireError { () throws(WireError) in try TransactWriteItemsRequest(parsing: buffer(body)) } == expected,
                "\(body)")
        }
    }

    @Test func queryAndScan() throws {
        let query = try TableReadRequest(
            parsing: buffer(
                ##"{"TableName": "orders", "IndexName": "by-customer", "KeyConditionExpression": "customer = :c", "ExpressionAttributeValues": {":c": {"S": "c1"}}, "Limit": 10, "ScanIndexForward": false}"##
            )
        )
        #expect(query.tableName == "orders")
        #expect(query.indexName == "by-customer")
        #expect(!query.consistentRead)
        let scan = try TableReadRequest(
            parsing: buffer(##"{"TableName": "orders", "ConsistentRead": true, "Segment": 0, "TotalSegments": 4}"##)
        )
        #expect(scan.tableName == "orders")
        #expect(scan.indexName == nil)
        #expect(scan.consistentRead)
        #expect(
            wireError { () throws(WireError) in try TableReadRequest(parsing: buffer(##"{"IndexName": "i"}"##)) }
                == .invalidField(field: "TableName", reason: .missing))
    }

    @Test func tableNameOfOtherOperations() throws {
        #expect(try JSONObject(parsing: buffer(##"{"TableName": "t", "KeySchema": []}"##)).tableName() == "t")
        #expect(try JSONObject(parsing: buffer(##"{"Limit": 10}"##)).tableName() == nil)
    }
}
