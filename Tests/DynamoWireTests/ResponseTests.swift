import NIOCore
import Testing

@testable import DynamoWire

/// Upstream answers as moto_server sends them (`json.dumps` separators), and the answers the proxy composes.
@Suite struct ResponseTests {
    let allocator = ByteBufferAllocator()

    @Test func getItemResponse() throws {
        let body = buffer(
            ##"{"Item": {"pk": {"S": "a"}, "m": {"M": {"x": {"N": "1"}}}}, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}"##
        )
        let response = try GetItemResponse(parsing: body)
        #expect(response.item == ["pk": .s("a"), "m": .m(["x": .n("1")])])
        let range = try #require(response.itemRange)
        #expect(
            String(buffer: body.getSlice(at: range.lowerBound, length: range.count)!)
                == ##"{"pk": {"S": "a"}, "m": {"M": {"x": {"N": "1"}}}}"##)
    }

    @Test func getItemResponseWithoutItem() throws {
        for text in ["{}", ##"{"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}"##, ##"{"Item": null}"##] {
            let response = try GetItemResponse(parsing: buffer(text))
            #expect(response.item == nil)
            #expect(response.itemRange == nil)
        }
    }

    @Test func getItemResponseRangeIsRelativeToReaderIndex() throws {
        var body = buffer(##"xx{"Item": {"k": {"S": "v"}}}"##)
        body.moveReaderIndex(forwardBy: 2)
        let response = try GetItemResponse(parsing: body)
        let range = try #require(response.itemRange)
        #expect(
            String(buffer: body.getSlice(at: body.readerIndex + range.lowerBound, length: range.count)!)
                == ##"{"k": {"S": "v"}}"##)
    }

    @Test func getItemResponseMalformed() {
        #expect(wireError { () throws(WireError) in try GetItemResponse(parsing: buffer("{\"Item\": ")) } == .truncated)
        #expect(
            wireError { () throws(WireError) in try GetItemResponse(parsing: buffer(##"{"Item": []}"##)) }
                == .wrongType(field: "Item", expected: .object, found: .array))
        #expect(
            wireError { () throws(WireError) in try GetItemResponse(parsing: buffer(##"{"Item": {"a": {}}}"##)) }
                == .invalidField(field: "Item", reason: .emptyAttributeValue))
        #expect(
            wireError { () throws(WireError) in
                try GetItemResponse(parsing: buffer(##"{"Item": {}, "Item": {}}"##))
            } == .invalidField(field: "Item", reason: .duplicate))
    }

    @Test func composeGetItem() {
        let stored = buffer(##"{"pk": {"S": "a"}}"##)
        func text(_ json: ByteBuffer?, _ capacity: String?) -> String {
            String(
                buffer: GetItemResponse.compose(
                    itemJSON: json,
                    consumedCapacity: ConsumedCapacityRequest(returnConsumedCapacity: capacity, tableName: "t\"1"),
                    allocator: allocator
                )
            )
        }
        #expect(text(stored, nil) == ##"{"Item":{"pk": {"S": "a"}}}"##)
        #expect(text(stored, "NONE") == ##"{"Item":{"pk": {"S": "a"}}}"##)
        #expect(text(nil, nil) == "{}")
        #expect(
            text(stored, "TOTAL")
                == ##"{"Item":{"pk": {"S": "a"}},"ConsumedCapacity":{"TableName":"t\"1","CapacityUnits":0.0}}"##)
        #expect(
            text(nil, "INDEXES")
                == ##"{"ConsumedCapacity":{"TableName":"t\"1","CapacityUnits":0.0,"Table":{"CapacityUnits":0.0}}}"##)
        // The stored buffer is not consumed.
        #expect(stored.readableBytes == 18)
    }

    @Test func composeGetItemFromMap() {
        func text(_ item: AttributeMap?, _ capacity: String?) -> String {
            String(
                buffer: GetItemResponse.compose(
                    item: item,
                    consumedCapacity: ConsumedCapacityRequest(returnConsumedCapacity: capacity, tableName: "t"),
                    allocator: allocator
                )
            )
        }
        #expect(text(["a": .l([.n("1")])], nil) == ##"{"Item":{"a":{"L":[{"N":"1"}]}}}"##)
        // A projection that selects nothing of an existing item: an empty Item, as moto answers.
        #expect(text([:], nil) == ##"{"Item":{}}"##)
        #expect(text(nil, "TOTAL") == ##"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":0.0}}"##)
    }

    @Test func consumedCapacityRequest() {
        #expect(ConsumedCapacityRequest(returnConsumedCapacity: nil, tableName: "t") == nil)
        #expect(ConsumedCapacityRequest(returnConsumedCapacity: "NONE", tableName: "t") == nil)
        #expect(ConsumedCapacityRequest(returnConsumedCapacity: "total", tableName: "t") == nil)
        #expect(ConsumedCapacityRequest(returnConsumedCapacity: "TOTAL", tableName: "t")?.indexes == false)
        #expect(ConsumedCapacityRequest(returnConsumedCapacity: "INDEXES", tableName: "t")?.indexes == true)
        #expect(ConsumedCapacityRequest.isValid(nil))
        #expect(ConsumedCapacityRequest.isValid("NONE"))
        #expect(!ConsumedCapacityRequest.isValid("total"))
        #expect(!ConsumedCapacityRequest.isValid("ALL"))
        #expect(!ConsumedCapacityRequest.isReported("NONE"))
        #expect(ConsumedCapacityRequest.isReported("INDEXES"))
    }

    @Test func rewritingSplicesMembers() throws {
        let object = try JSONObject(
            parsing: buffer(
                ##"{"TableName": "t", "Key": {"pk": {"S": "caf\u00e9"}}, "ProjectionExpression": "#n", "ExpressionAttributeNames": {"#n": "name"}, "ConsistentRead" : false}"##
            )
        )
        let full = object.rewritten(
            removing: ["ProjectionExpression", "ExpressionAttributeNames", "AttributesToGet"],
            setting: [],
            allocator: allocator
        )
        #expect(
            String(buffer: full) == ##"{"TableName": "t","Key": {"pk": {"S": "caf\u00e9"}},"ConsistentRead" : false}"##)
        // The result is a request the parser accepts.
        #expect(try GetItemRequest(parsing: full).projection.isWholeItem)

        let replaced = object.rewritten(
            removing: ["Key"],
            setting: [(name: "ConsistentRead", json: "true"), (name: "ReturnValues", json: "\"ALL_NEW\"")],
            allocator: allocator
        )
        #expect(
            String(buffer: replaced)
                == ##"{"TableName": "t","ProjectionExpression": "#n","ExpressionAttributeNames": {"#n": "name"},"ConsistentRead":true,"ReturnValues":"ALL_NEW"}"##
        )
    }

    @Test func rewritingEdgeCases() throws {
        // Escaped member names are matched decoded; everything removed leaves an empty object.
        let escaped = try JSONObject(parsing: buffer(##"{"Return\u0056alues": "NONE", "a": 1}"##))
        #expect(
            String(
                buffer: escaped.rewritten(
                    removing: ["a"], setting: [(name: "ReturnValues", json: "\"ALL_NEW\"")], allocator: allocator))
                == ##"{"ReturnValues":"ALL_NEW"}"##)
        #expect(
            String(buffer: escaped.rewritten(removing: ["a", "ReturnValues"], setting: [], allocator: allocator))
                == "{}")
        let empty = try JSONObject(parsing: buffer(" { } "))
        #expect(
            String(buffer: empty.rewritten(removing: [], setting: [(name: "x", json: "1")], allocator: allocator))
                == ##"{"x":1}"##)
        // A repeated member that is set is written once.
        let repeated = try JSONObject(parsing: buffer(##"{"a": 1, "b": 2, "a": 3}"##))
        #expect(
            String(buffer: repeated.rewritten(removing: [], setting: [(name: "a", json: "0")], allocator: allocator))
                == ##"{"a":0,"b": 2}"##)
    }

    @Test func updateItemResponse() throws {
        let body = buffer(
            ##"{"Attributes": {"pk": {"S": "a"}, "s": {"S": "new"}}, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}, "ItemCollectionMetrics": {"ItemCollectionKey": {"pk": {"S": "a"}}, "SizeEstimateRangeGB": [0.0, 1.0]}}"##
        )
        let response = try UpdateItemResponse(parsing: body)
        #expect(response.attributes == ["pk": .s("a"), "s": .s("new")])
        let range = try #require(response.attributesRange)
        #expect(
            String(buffer: body.getSlice(at: range.lowerBound, length: range.count)!)
                == ##"{"pk": {"S": "a"}, "s": {"S": "new"}}"##)
        #expect(
            String(buffer: UpdateItemResponse.removingAttributes(from: body, allocator: allocator))
                == ##"{"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0},"ItemCollectionMetrics": {"ItemCollectionKey": {"pk": {"S": "a"}}, "SizeEstimateRangeGB": [0.0, 1.0]}}"##
        )
        let bare = buffer(##"{"Attributes": {"pk": {"S": "a"}}}"##)
        #expect(String(buffer: UpdateItemResponse.removingAttributes(from: bare, allocator: allocator)) == "{}")
        #expect(try UpdateItemResponse(parsing: buffer("{}")).attributes == nil)
        // Not JSON: passed on as it is.
        #expect(
            String(buffer: UpdateItemResponse.removingAttributes(from: buffer("oops"), allocator: allocator)) == "oops")
    }

    @Test func upstreamErrorCode() {
        let cases: [(String, String?)] = [
            (
                ##"{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "The conditional request failed"}"##,
                "ConditionalCheckFailedException"
            ),
            (
                ##"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"##,
                "ResourceNotFoundException"
            ),
            (
                ##"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"}]}"##,
                "TransactionCanceledException"
            ),
            (##"{"__type":"com.amazon.coral.validate#ValidationException","message":"x"}"##, "ValidationException"),
            (##"{"message":"x","__type":"ThrottlingException"}"##, "ThrottlingException"),
            (##"{"message":"x"}"##, nil),
            (##"{"__type": 1}"##, nil),
            ("<html>Bad Gateway</html>", nil),
            ("", nil),
        ]
        for (body, code) in cases {
            #expect(UpstreamErrorCode.code(in: buffer(body)) == code, "\(body)")
        }
    }

    @Test func batchWriteItemResponse() throws {
        let body = buffer(
            ##"{"UnprocessedItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}], "arn:aws:dynamodb:us-east-1:123456789012:table/u": [{"DeleteRequest": {"Key": {"id": {"N": "7"}}}}]}, "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 2.0}]}"##
        )
        let response = try BatchWriteItemResponse(parsing: body)
        #expect(response.unprocessed.map(\.tableName) == ["t", "u"])
        #expect(response.unprocessed[0].puts == [["pk": .s("a"), "v": .n("1")]])
        #expect(response.unprocessed[0].deletes.map(\.attributes) == [["pk": .s("b")]])
        #expect(response.unprocessed[1].puts.isEmpty)
        #expect(response.unprocessed[1].deletes.map(\.attributes) == [["id": .n("7")]])
        #expect(try BatchWriteItemResponse(parsing: buffer(##"{"UnprocessedItems": {}}"##)).unprocessed.isEmpty)
        #expect(try BatchWriteItemResponse(parsing: buffer("{}")).unprocessed.isEmpty)
        #expect(
            wireError { () throws(WireError) in
                try BatchWriteItemResponse(parsing: buffer(##"{"UnprocessedItems": {"t": [{}]}}"##))
            } == .invalidField(field: "UnprocessedItems", reason: .exactlyOneOf(["PutRequest", "DeleteRequest"])))
    }
}
