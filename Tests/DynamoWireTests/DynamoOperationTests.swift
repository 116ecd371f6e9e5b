import Testing

@testable import DynamoWire

@Suite struct DynamoOperationTests {
    @Test func classifiesTargets() {
        #expect(APITarget(xAmzTarget: "DynamoDB_20120810.GetItem") == .dynamoDB(.getItem))
        #expect(APITarget(xAmzTarget: "DynamoDB_20120810.TransactWriteItems") == .dynamoDB(.transactWriteItems))
        #expect(
            APITarget(xAmzTarget: "DynamoDB_20120810.RestoreTableToPointInTime")
                == .dynamoDB(.restoreTableToPointInTime))
        #expect(APITarget(xAmzTarget: "DynamoDB_20120810.ListTables") == .dynamoDB(.other))
        #expect(APITarget(xAmzTarget: "DynamoDB_20120810.TagResource") == .dynamoDB(.other))
        #expect(APITarget(xAmzTarget: "DynamoDB_20120810.") == .dynamoDB(.other))
        #expect(APITarget(xAmzTarget: "DynamoDB_20120810.getitem") == .dynamoDB(.other))
        #expect(APITarget(xAmzTarget: "DynamoDBStreams_20120810.GetRecords") == .dynamoDBStreams)
        #expect(APITarget(xAmzTarget: "DynamoDB_20111205.GetItem") == .other)
        #expect(APITarget(xAmzTarget: "AmazonSQS.SendMessage") == .other)
        #expect(APITarget(xAmzTarget: "") == .other)
        #expect(APITarget(xAmzTarget: nil) == .other)
    }

    @Test func everyNamedOperationParses() {
        let names: [(String, DynamoOperation)] = [
            ("GetItem", .getItem), ("BatchGetItem", .batchGetItem), ("PutItem", .putItem),
            ("UpdateItem", .updateItem), ("DeleteItem", .deleteItem), ("BatchWriteItem", .batchWriteItem),
            ("Query", .query), ("Scan", .scan), ("TransactGetItems", .transactGetItems),
            ("TransactWriteItems", .transactWriteItems), ("ExecuteStatement", .executeStatement),
            ("BatchExecuteStatement", .batchExecuteStatement), ("ExecuteTransaction", .executeTransaction),
            ("CreateTable", .createTable), ("DeleteTable", .deleteTable), ("UpdateTable", .updateTable),
            ("DescribeTable", .describeTable), ("RestoreTableFromBackup", .restoreTableFromBackup),
            ("RestoreTableToPointInTime", .restoreTableToPointInTime), ("ImportTable", .importTable),
        ]
        for (name, operation) in names {
            #expect(APITarget(xAmzTarget: "DynamoDB_20120810." + name) == .dynamoDB(operation), "\(name)")
        }
    }

    @Test func properties() {
        let reads: Set<DynamoOperation> = [.getItem, .batchGetItem, .query, .scan]
        let writes: Set<DynamoOperation> = [
            .putItem, .updateItem, .deleteItem, .batchWriteItem, .transactWriteItems, .executeStatement,
            .batchExecuteStatement, .executeTransaction,
        ]
        let definitions: Set<DynamoOperation> = [
            .createTable, .deleteTable, .updateTable, .restoreTableFromBackup, .restoreTableToPointInTime,
            .importTable,
        ]
        let all: [DynamoOperation] = [
            .getItem, .batchGetItem, .putItem, .updateItem, .deleteItem, .batchWriteItem, .query, .scan,
            .transactGetItems, .transactWriteItems, .executeStatement, .batchExecuteStatement, .executeTransaction,
            .createTable, .deleteTable, .updateTable, .describeTable, .restoreTableFromBackup,
            .restoreTableToPointInTime, .importTable, .other,
        ]
        for operation in all {
            #expect(operation.isCacheableRead == reads.contains(operation), "\(operation)")
            #expect(operation.isWrite == writes.contains(operation), "\(operation)")
            #expect(operation.changesTableDefinition == definitions.contains(operation), "\(operation)")
        }
    }
}
