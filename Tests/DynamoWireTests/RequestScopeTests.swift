import NIOCore
import Testing

@testable import DynamoWire

/// What each operation touches, for the access rules of authenticated clients.
@Suite struct RequestScopeTests {
    static func scope(_ target: String?, _ body: String) -> RequestScope {
        RequestScope(target: target, object: try? JSONObject(parsing: ByteBuffer(string: body)))
    }

    static let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table"

    /// (X-Amz-Target, body, tables, only reads)
    static let cases: [(String?, String, RequestScope.Tables, Bool)] = [
        ("DynamoDB_20120810.GetItem", #"{"TableName":"t","Key":{}}"#, .named(["t"]), true),
        ("DynamoDB_20120810.GetItem", #"{"TableName":"\#(arn)/t","Key":{}}"#, .named(["t"]), true),
        ("DynamoDB_20120810.PutItem", #"{"TableName":"t","Item":{}}"#, .named(["t"]), false),
        ("DynamoDB_20120810.Query", #"{"TableName":"t","IndexName":"i"}"#, .named(["t"]), true),
        ("DynamoDB_20120810.Scan", #"{"TableName":"t"}"#, .named(["t"]), true),
        ("DynamoDB_20120810.DescribeTable", #"{"TableName":"t"}"#, .named(["t"]), true),
        ("DynamoDB_20120810.UpdateTimeToLive", #"{"TableName":"t"}"#, .named(["t"]), false),
        ("DynamoDB_20120810.GetItem", #"{"Key":{}}"#, .unknown, true),
        ("DynamoDB_20120810.GetItem", #"{"TableName":7}"#, .unknown, true),
        (
            "DynamoDB_20120810.BatchGetItem", #"{"RequestItems":{"a":{"Keys":[]},"b":{"Keys":[]}}}"#,
            .named(["a", "b"]), true
        ),
        ("DynamoDB_20120810.BatchWriteItem", #"{"RequestItems":{"a":[]}}"#, .named(["a"]), false),
        ("DynamoDB_20120810.BatchWriteItem", #"{"RequestItems":{}}"#, .unknown, false),
        (
            "DynamoDB_20120810.TransactWriteItems",
            #"{"TransactItems":[{"Put":{"TableName":"a","Item":{}}},{"ConditionCheck":{"TableName":"b","Key":{}}}]}"#,
            .named(["a", "b"]), false
        ),
        (
            "DynamoDB_20120810.TransactGetItems", #"{"TransactItems":[{"Get":{"TableName":"a","Key":{}}}]}"#,
            .named(["a"]), true
        ),
        ("DynamoDB_20120810.TransactGetItems", #"{"TransactItems":[{"Get":{"Key":{}}}]}"#, .unknown, true),
        (
            "DynamoDB_20120810.ExecuteStatement", #"{"Statement":"SELECT * FROM \"t\" WHERE pk = 'a'"}"#, .named(["t"]),
            true
        ),
        (
            "DynamoDB_20120810.ExecuteStatement", #"{"Statement":"UPDATE t SET v = 1 WHERE pk = 'a'"}"#, .named(["t"]),
            false
        ),
        ("DynamoDB_20120810.ExecuteStatement", #"{"Statement":"VALUE {}"}"#, .unknown, false),
        (
            "DynamoDB_20120810.BatchExecuteStatement",
            #"{"Statements":[{"Statement":"SELECT * FROM a"},{"Statement":"DELETE FROM b WHERE pk = 'x'"}]}"#,
            .named(["a", "b"]), false
        ),
        (
            "DynamoDB_20120810.ExecuteTransaction", #"{"TransactStatements":[{"Statement":"SELECT * FROM a"}]}"#,
            .named(["a"]), true
        ),
        ("DynamoDB_20120810.ListTables", "{}", .account, true),
        ("DynamoDB_20120810.DescribeLimits", "{}", .account, true),
        ("DynamoDB_20120810.ListBackups", "{}", .account, true),
        ("DynamoDB_20120810.ListBackups", #"{"TableName":"t"}"#, .named(["t"]), true),
        ("DynamoDB_20120810.TagResource", #"{"ResourceArn":"\#(arn)/t","Tags":[]}"#, .named(["t"]), false),
        ("DynamoDB_20120810.ListTagsOfResource", #"{"ResourceArn":"\#(arn)/t/index/i"}"#, .named(["t"]), true),
        ("DynamoDB_20120810.ListTagsOfResource", #"{"ResourceArn":"arn:aws:s3:::bucket"}"#, .unknown, true),
        ("DynamoDB_20120810.DescribeBackup", #"{"BackupArn":"\#(arn)/t/backup/01"}"#, .named(["t"]), true),
        (
            "DynamoDB_20120810.RestoreTableFromBackup", #"{"TargetTableName":"u","BackupArn":"\#(arn)/t/backup/01"}"#,
            .named(["u", "t"]), false
        ),
        (
            "DynamoDB_20120810.RestoreTableToPointInTime", #"{"TargetTableName":"u","SourceTableName":"t"}"#,
            .named(["u", "t"]), false
        ),
        (
            "DynamoDB_20120810.RestoreTableToPointInTime", #"{"TargetTableName":"u","SourceTableArn":"\#(arn)/t"}"#,
            .named(["u", "t"]), false
        ),
        ("DynamoDB_20120810.ImportTable", #"{"TableCreationParameters":{"TableName":"t"}}"#, .named(["t"]), false),
        ("DynamoDB_20120810.ExportTableToPointInTime", #"{"TableArn":"\#(arn)/t"}"#, .named(["t"]), false),
        ("DynamoDB_20120810.ListExports", "{}", .account, true),
        ("DynamoDB_20120810.DescribeGlobalTable", #"{"GlobalTableName":"g"}"#, .named(["g"]), true),
        ("DynamoDB_20120810.SomethingNew", #"{"TableName":"t"}"#, .named(["t"]), false),
        ("DynamoDBStreams_20120810.DescribeStream", #"{"StreamArn":"\#(arn)/t/stream/2026"}"#, .named(["t"]), true),
        (
            "DynamoDBStreams_20120810.GetShardIterator", #"{"StreamArn":"\#(arn)/t/stream/2026","ShardId":"s"}"#,
            .named(["t"]), true
        ),
        ("DynamoDBStreams_20120810.ListStreams", "{}", .account, true),
        ("DynamoDBStreams_20120810.ListStreams", #"{"TableName":"t"}"#, .named(["t"]), true),
        ("DynamoDBStreams_20120810.GetRecords", #"{"ShardIterator":"opaque"}"#, .unknown, true),
        (
            "DynamoDBStreams_20120810.GetRecords", #"{"ShardIterator":"\#(arn)/t/stream/2026|1|AAAA"}"#,
            .named(["t"]), true
        ),
        ("DynamoDBStreams_20120810.Unknown", "{}", .unknown, false),
        ("AmazonS3.ListBuckets", "{}", .unknown, false),
        (nil, "", .unknown, false),
        ("DynamoDB_20120810.GetItem", "not json", .unknown, false),
    ]

    @Test func everyOperationNamesWhatItTouches() {
        for (target, body, tables, isRead) in Self.cases {
            let scope = Self.scope(target, body)
            #expect(scope.tables == tables, "\(target ?? "nil") \(body)")
            #expect(scope.isRead == isRead, "\(target ?? "nil") \(body)")
        }
        #expect(Self.scope("DynamoDB_20120810.PutItem", "{}").operation == "PutItem")
        #expect(Self.scope("DynamoDB_20120810.PutItem", #"{"TableName":"t"}"#).access == .writeItems)
        #expect(Self.scope("DynamoDB_20120810.CreateTable", #"{"TableName":"t"}"#).access == .administer)
        #expect(
            Self.scope("DynamoDB_20120810.ExecuteStatement", #"{"Statement":"DELETE FROM t"}"#).access == .writeItems)
        #expect(Self.scope("DynamoDB_20120810.GetItem", #"{"TableName":"\#(Self.arn)/t"}"#).namesTableByARN)
        #expect(!Self.scope("DynamoDB_20120810.GetItem", #"{"TableName":"t"}"#).namesTableByARN)
    }
}
