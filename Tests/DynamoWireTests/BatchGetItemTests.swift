import NIOCore
import Testing

@testable import DynamoWire

/// The BatchGetItem path: the request for the storage server, its answer, and the client's answer.
@Suite struct BatchGetItemTests {
    let allocator = ByteBufferAllocator()

    /// Two tables (one named by ARN), projections of both kinds, boto3 separators.
    static let requestBody =
        ##"{"RequestItems": {"users": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}, {"pk": {"S": "c"}}], "ConsistentRead": false, "ProjectionExpression": "pk, #s", "ExpressionAttributeNames": {"#s": "status"}}, "arn:aws:dynamodb:us-east-1:123456789012:table/orders": {"Keys": [{"id": {"N": "10"}}], "AttributesToGet": ["id"]}}, "ReturnConsumedCapacity": "TOTAL"}"##

    func request(_ body: String = requestBody) throws -> BatchGetItemRequest {
        try BatchGetItemRequest(parsing: buffer(body))
    }

    @Test func tableNamesAreNormalised() throws {
        let request = try request()
        #expect(request.tables.map(\.tableName) == ["users", "orders"])
        #expect(request.tableIndex(named: "orders") == 1)
        #expect(request.tableIndex(named: "arn:aws:dynamodb:us-east-1:123456789012:table/users") == 0)
        #expect(request.tableIndex(named: "other") == nil)
    }

    @Test func upstreamBodyKeepsFlaggedKeys() throws {
        let request = try request()
        let body = try #require(
            request.upstreamBody(keeping: [[true, false, true], [false]], fullItemTables: [], allocator: allocator)
        )
        #expect(
            String(buffer: body)
                == ##"{"RequestItems":{"users":{"Keys":[{"pk": {"S": "a"}},{"pk": {"S": "c"}}],"ConsistentRead": false,"ProjectionExpression": "pk, #s","ExpressionAttributeNames": {"#s": "status"}}},"ReturnConsumedCapacity": "TOTAL"}"##
        )
        let parsed = try BatchGetItemRequest(parsing: body)
        #expect(parsed.tables.count == 1)
        #expect(parsed.tables[0].keys.map(\.attributes) == [["pk": .s("a")], ["pk": .s("c")]])
        #expect(parsed.returnConsumedCapacity == "TOTAL")
    }

    @Test func upstreamBodyAsksWholeItems() throws {
        let request = try request()
        let body = try #require(
            request.upstreamBody(
                keeping: [[false, true, false], [true]], fullItemTables: [0, 1], allocator: allocator)
        )
        #expect(
            String(buffer: body)
                == ##"{"RequestItems":{"users":{"Keys":[{"pk": {"S": "b"}}],"ConsistentRead": false},"arn:aws:dynamodb:us-east-1:123456789012:table/orders":{"Keys":[{"id": {"N": "10"}}]}},"ReturnConsumedCapacity": "TOTAL"}"##
        )
        let parsed = try BatchGetItemRequest(parsing: body)
        #expect(parsed.tables.allSatisfy { $0.projection.isWholeItem })
    }

    @Test func upstreamBodyWithNothingLeft() throws {
        let request = try request()
        #expect(
            request.upstreamBody(keeping: [[false, false, false], [false]], fullItemTables: [], allocator: allocator)
                == nil)
        #expect(request.upstreamBody(keeping: [], fullItemTables: [], allocator: allocator) == nil)
    }

    @Test func parsesUpstreamAnswer() throws {
        let body = buffer(
            ##"{"Responses": {"users": [{"pk": {"S": "a"}, "status": {"S": "on"}}], "orders": []}, "UnprocessedKeys": {"users": {"Keys": [{"pk": {"S": "c"}}], "ProjectionExpression": "pk, #s", "ExpressionAttributeNames": {"#s": "status"}}}, "ConsumedCapacity": [{"TableName": "users", "CapacityUnits": 1.0}]}"##
        )
        let response = try BatchGetItemResponse(parsing: body)
        #expect(response.responses.map(\.tableName) == ["users", "orders"])
        #expect(response.responses[0].items == [["pk": .s("a"), "status": .s("on")]])
        #expect(response.responses[1].items.isEmpty)
        #expect(
            String(buffer: response.slice(response.itemRanges[0][0])) == ##"{"pk": {"S": "a"}, "status": {"S": "on"}}"##
        )
        #expect(response.unprocessedKeys.map(\.tableName) == ["users"])
        #expect(response.unprocessedKeys[0].keys.map(\.attributes) == [["pk": .s("c")]])
        let capacity = try #require(response.consumedCapacityRange)
        #expect(String(buffer: response.slice(capacity)) == ##"[{"TableName": "users", "CapacityUnits": 1.0}]"##)

        let empty = try BatchGetItemResponse(parsing: buffer(##"{"Responses": {}, "UnprocessedKeys": {}}"##))
        #expect(empty.responses.isEmpty && empty.unprocessedKeys.isEmpty && empty.consumedCapacityRange == nil)
        #expect(
            wireError { () throws(WireError) in
                try BatchGetItemResponse(parsing: buffer(##"{"Responses": {"t": {}}}"##))
            } == .wrongType(field: "Responses", expected: .array, found: .object))
        #expect(
            wireError { () throws(WireError) in
                try BatchGetItemResponse(parsing: buffer(##"{"UnprocessedKeys": {"t": {"Keys": [{}]}}}"##))
            } == .invalidField(field: "Keys", reason: .keyMismatch))
    }

    @Test func composesFromCacheOnly() throws {
        let request = try request()
        var builder = BatchGetItemResponseBuilder(request: request)
        builder.addItem(json: buffer(##"{"pk": {"S": "a"}}"##), table: 0)
        builder.addItem(["pk": .s("b"), "status": .s("off")], table: 0)
        #expect(
            String(buffer: builder.compose(allocator: allocator))
                == ##"{"Responses":{"users":[{"pk": {"S": "a"}},{"pk":{"S":"b"},"status":{"S":"off"}}],"arn:aws:dynamodb:us-east-1:123456789012:table/orders":[]},"UnprocessedKeys":{},"ConsumedCapacity":[{"TableName":"users","CapacityUnits":0.0},{"TableName":"orders","CapacityUnits":0.0}]}"##
        )
    }

    @Test func composesWithUpstreamAnswer() throws {
        let request = try request()
        var builder = BatchGetItemResponseBuilder(request: request)
        builder.addItem(json: buffer(##"{"pk": {"S": "b"}}"##), table: 0)
        // The proxy asked whole items for users (and projects them itself), orders as the client asked.
        let upstream = try BatchGetItemResponse(
            parsing: buffer(
                ##"{"Responses": {"users": [{"pk": {"S": "a"}, "status": {"S": "on"}, "big": {"S": "..."}}], "arn:aws:dynamodb:us-east-1:123456789012:table/orders": [{"id": {"N": "10"}}]}, "UnprocessedKeys": {"users": {"Keys": [{"pk": {"S": "c"}}], "ConsistentRead": false}}, "ConsumedCapacity": [{"TableName": "users", "CapacityUnits": 1.5}]}"##
            )
        )
        builder.addUpstream(upstream, fullItemTables: [0])
        let plan = try #require(ProjectionPlan(request.tables[0].projection))
        for item in upstream.responses[0].items { builder.addItem(plan.apply(to: item), table: 0) }
        let answer = builder.compose(allocator: allocator)
        #expect(
            String(buffer: answer)
                == ##"{"Responses":{"users":[{"pk": {"S": "b"}},{"pk":{"S":"a"},"status":{"S":"on"}}],"arn:aws:dynamodb:us-east-1:123456789012:table/orders":[{"id": {"N": "10"}}]},"UnprocessedKeys":{"users":{"Keys":[{"pk": {"S": "c"}}],"ConsistentRead": false,"ProjectionExpression": "pk, #s","ExpressionAttributeNames": {"#s": "status"}}},"ConsumedCapacity":[{"TableName": "users", "CapacityUnits": 1.5},{"TableName":"orders","CapacityUnits":0.0}]}"##
        )
        // The unprocessed keys are a request the client can send again as it is.
        let retry = try BatchGetItemRequest(
            parsing: buffer(
                ##"{"RequestItems":"##
                    + String(
                        String(buffer: answer).split(separator: "\"UnprocessedKeys\":")[1].split(
                            separator: ",\"ConsumedCapacity\"")[0]) + "}")
        )
        #expect(retry.tables[0].keys.map(\.attributes) == [["pk": .s("c")]])
        #expect(retry.tables[0].projection == request.tables[0].projection)
    }

    @Test func noConsumedCapacityUnlessAsked() throws {
        let request = try request(
            ##"{"RequestItems": {"t": {"Keys": [{"k": {"S": "1"}}]}}, "ReturnConsumedCapacity": "NONE"}"##)
        var builder = BatchGetItemResponseBuilder(request: request)
        builder.addUpstream(
            try BatchGetItemResponse(parsing: buffer(##"{"Responses": {"t": []}, "UnprocessedKeys": {}}"##)),
            fullItemTables: []
        )
        #expect(
            String(buffer: builder.compose(allocator: allocator)) == ##"{"Responses":{"t":[]},"UnprocessedKeys":{}}"##)
        let indexes = try self.request(
            ##"{"RequestItems": {"t": {"Keys": [{"k": {"S": "1"}}]}}, "ReturnConsumedCapacity": "INDEXES"}"##)
        #expect(
            String(buffer: BatchGetItemResponseBuilder(request: indexes).compose(allocator: allocator))
                == ##"{"Responses":{"t":[]},"UnprocessedKeys":{},"ConsumedCapacity":[{"TableName":"t","CapacityUnits":0.0,"Table":{"CapacityUnits":0.0}}]}"##
        )
    }
}
