import NIOCore
import Testing

@testable import DynamoWire

@Suite struct TableNameTests {
    @Test func normalized() {
        let cases: [(String, String)] = [
            ("Music", "Music"),
            ("arn:aws:dynamodb:us-east-1:123456789012:table/Music", "Music"),
            ("arn:aws-cn:dynamodb:cn-north-1:123456789012:table/my-table.v2_x", "my-table.v2_x"),
            // Not a table ARN, or not one that names only a table: unchanged.
            (
                "arn:aws:dynamodb:us-east-1:123456789012:table/Music/index/byArtist",
                "arn:aws:dynamodb:us-east-1:123456789012:table/Music/index/byArtist"
            ),
            ("arn:aws:dynamodb:us-east-1:123456789012:table/", "arn:aws:dynamodb:us-east-1:123456789012:table/"),
            ("arn:aws:dynamodb:us-east-1:123456789012:backup/x", "arn:aws:dynamodb:us-east-1:123456789012:backup/x"),
            ("arn:aws:dynamodb:table/Music", "arn:aws:dynamodb:table/Music"),
            ("arn:", "arn:"),
            ("", ""),
        ]
        for (name, expected) in cases {
            #expect(TableName.normalized(name) == expected, "\(name)")
        }
    }

    @Test func requestsNormaliseTableNames() throws {
        let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/users"
        let get = try GetItemRequest(parsing: buffer(##"{"TableName": "\##(arn)", "Key": {"pk": {"S": "a"}}}"##))
        #expect(get.tableName == "users")
        let put = try PutItemRequest(parsing: buffer(##"{"TableName": "\##(arn)", "Item": {"pk": {"S": "a"}}}"##))
        #expect(put.tableName == "users")
        #expect(try JSONObject(parsing: buffer(##"{"TableName": "\##(arn)"}"##)).tableName() == "users")
        let write = try BatchWriteItemRequest(
            parsing: buffer(##"{"RequestItems": {"\##(arn)": [{"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]}}"##)
        )
        #expect(write.tables.map(\.tableName) == ["users"])
        let query = try TableReadRequest(parsing: buffer(##"{"TableName": "\##(arn)"}"##))
        #expect(query.tableName == "users")
    }

    @Test func tableDefinitionRequest() throws {
        let cases: [(DynamoOperation, String, String?)] = [
            (.createTable, ##"{"TableName": "t", "KeySchema": []}"##, "t"),
            (.deleteTable, ##"{"TableName": "arn:aws:dynamodb:us-east-1:123456789012:table/t"}"##, "t"),
            (.updateTable, ##"{"TableName": "t", "BillingMode": "PAY_PER_REQUEST"}"##, "t"),
            (
                .restoreTableFromBackup,
                ##"{"TargetTableName": "t2", "BackupArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/backup/01"}"##,
                "t2"
            ),
            (
                .restoreTableToPointInTime,
                ##"{"SourceTableName": "t", "TargetTableName": "t3", "UseLatestRestorableTime": true}"##, "t3"
            ),
            (
                .importTable,
                ##"{"S3BucketSource": {"S3Bucket": "b"}, "InputFormat": "DYNAMODB_JSON", "TableCreationParameters": {"TableName": "t4", "KeySchema": []}}"##,
                "t4"
            ),
            (.importTable, ##"{"InputFormat": "CSV"}"##, nil),
            (.describeTable, ##"{"TableName": "t"}"##, nil),
            (.createTable, "{}", nil),
        ]
        for (operation, body, expected) in cases {
            #expect(
                try TableDefinitionRequest(parsing: buffer(body), operation: operation).tableName == expected, "\(body)"
            )
        }
        #expect(
            wireError { () throws(WireError) in
                try TableDefinitionRequest(parsing: buffer(##"{"TableName": 1}"##), operation: .deleteTable)
            } == .wrongType(field: "TableName", expected: .string, found: .number))
        #expect(
            wireError { () throws(WireError) in
                try TableDefinitionRequest(
                    parsing: buffer(##"{"TableCreationParameters": []}"##), operation: .importTable)
            } == .wrongType(field: "TableCreationParameters", expected: .object, found: .array))
    }

    @Test func keySchema() throws {
        // moto's DescribeTable and CreateTable answers.
        let describe = try TableDescriptionKeySchema(
            parsing: buffer(
                ##"{"Table": {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}], "TableName": "t", "KeySchema": [{"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "pk", "KeyType": "HASH"}], "TableStatus": "ACTIVE", "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t", "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]}]}}"##
            )
        )
        #expect(describe.tableName == "t")
        #expect(describe.keyAttributes == ["pk", "sk"])
        let create = try TableDescriptionKeySchema(
            parsing: buffer(
                ##"{"TableDescription": {"TableName": "u", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}], "TableStatus": "ACTIVE"}}"##
            )
        )
        #expect(create.tableName == "u")
        #expect(create.keyAttributes == ["id"])
        let none = try TableDescriptionKeySchema(parsing: buffer(##"{"TableNames": ["a"]}"##))
        #expect(none.tableName == nil && none.keyAttributes.isEmpty)
        let noSchema = try TableDescriptionKeySchema(parsing: buffer(##"{"TableDescription": {"TableName": "u"}}"##))
        #expect(noSchema.tableName == "u" && noSchema.keyAttributes.isEmpty)
        let malformed = [
            ##"{"Table": {"KeySchema": [{"AttributeName": "a", "KeyType": "RANGE"}]}}"##,
            ##"{"Table": {"KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "HASH"}]}}"##,
            ##"{"Table": {"KeySchema": [{"AttributeName": "a", "KeyType": "PARTITION"}]}}"##,
            ##"{"Table": {"KeySchema": [{"KeyType": "HASH"}]}}"##,
            ##"{"Table": {"KeySchema": {}}}"##,
            ##"{"Table": []}"##,
        ]
        for body in malformed {
            #expect(
                wireError { () throws(WireError) in try TableDescriptionKeySchema(parsing: buffer(body)) } != nil,
                "\(body)")
        }
    }
}

@Suite struct PartiQLTests {
    @Test func statements() {
        let cases: [(String, Bool, [String]?)] = [
            (#"SELECT * FROM "Music" WHERE Artist = 'Acme'"#, true, ["Music"]),
            (#"select a, b from Music where x = 1"#, true, ["Music"]),
            (#"SELECT * FROM "Music"."ArtistIndex" WHERE Artist = ?"#, true, ["Music"]),
            (#"SELECT * FROM Music.ArtistIndex"#, true, ["Music"]),
            (#"SELECT "from", 'FROM x' FROM "my-table""#, true, ["my-table"]),
            (#"SELECT * FROM "say ""hi""""#, true, [#"say "hi""#]),
            (#"EXISTS(SELECT * FROM "Music" WHERE Artist = 'Acme')"#, true, ["Music"]),
            ("  -- a comment\n /* another */ SELECT * FROM t", true, ["t"]),
            (#"INSERT INTO "Music" VALUE {'Artist': 'Acme', 'SongTitle': 'PartiQL Rocks'}"#, false, ["Music"]),
            (#"insert into Music value {'a': 1}"#, false, ["Music"]),
            (#"UPDATE "Music" SET AwardsWon = 1 WHERE Artist = 'Acme'"#, false, ["Music"]),
            (#"update Music set x = 1"#, false, ["Music"]),
            (#"DELETE FROM "Music" WHERE Artist = 'Acme'"#, false, ["Music"]),
            (#"DELETE FROM "arn:aws:dynamodb:us-east-1:123456789012:table/Music" WHERE a = 1"#, false, ["Music"]),
            // Shapes the proxy cannot read: no table.
            (#"DELETE "Music" WHERE a = 1"#, false, nil),
            (#"INSERT "Music" VALUE {}"#, false, nil),
            (#"UPDATE my-table SET x = 1"#, false, nil),
            (#"UPDATE "Music"[0] SET x = 1"#, false, nil),
            (#"UPDATE "unterminated SET x = 1"#, false, nil),
            (#"SELECT * WHERE x = 1"#, true, nil),
            // A subquery could name another table: the tables cannot be told.
            (#"SELECT * FROM "orders" WHERE pk IN (SELECT pk FROM "customers")"#, true, nil),
            (#"SELECT (SELECT x FROM "customers") FROM "orders""#, true, nil),
            (#"DELETE FROM "orders" WHERE pk IN (SELECT pk FROM "customers")"#, false, nil),
            (#"EXISTS(SELECT * FROM "a" WHERE pk IN (SELECT pk FROM "b"))"#, true, nil),
            (#"UPSERT INTO t VALUE {}"#, false, nil),
            ("", false, nil),
            ("/* only a comment", false, nil),
            (#"REPLACE INTO t VALUE {}"#, false, nil),
        ]
        for (text, isRead, tables) in cases {
            let statement = PartiQLStatement(text)
            #expect(statement.isRead == isRead, "\(text)")
            #expect(statement.tableNames == tables, "\(text)")
        }
    }

    @Test func requests() throws {
        let single = try PartiQLRequest(
            parsing: buffer(##"{"Statement": "SELECT * FROM \"t\" WHERE pk = ?", "Parameters": [{"S": "a"}]}"##),
            operation: .executeStatement
        )
        #expect(single.statements == [#"SELECT * FROM "t" WHERE pk = ?"#])
        let batch = try PartiQLRequest(
            parsing: buffer(
                ##"{"Statements": [{"Statement": "DELETE FROM t WHERE pk = 'a'"}, {"Statement": "UPDATE u SET x = 1 WHERE pk = 'b'", "Parameters": []}]}"##
            ),
            operation: .batchExecuteStatement
        )
        #expect(batch.statements == ["DELETE FROM t WHERE pk = 'a'", "UPDATE u SET x = 1 WHERE pk = 'b'"])
        let transaction = try PartiQLRequest(
            parsing: buffer(
                ##"{"TransactStatements": [{"Statement": "INSERT INTO t VALUE {'pk': 'a'}"}], "ClientRequestToken": "x"}"##
            ),
            operation: .executeTransaction
        )
        #expect(transaction.statements == ["INSERT INTO t VALUE {'pk': 'a'}"])
        #expect(try PartiQLRequest(parsing: buffer(##"{"Statement": "x"}"##), operation: .getItem).statements.isEmpty)
        let errors: [(String, DynamoOperation, WireError)] = [
            ("{}", .executeStatement, .invalidField(field: "Statement", reason: .missing)),
            (
                ##"{"Statement": 1}"##, .executeStatement,
                .wrongType(field: "Statement", expected: .string, found: .number)
            ),
            (##"{"Statements": []}"##, .batchExecuteStatement, .invalidField(field: "Statements", reason: .empty)),
            (##"{"Statements": [{}]}"##, .batchExecuteStatement, .invalidField(field: "Statement", reason: .missing)),
            (
                ##"{"TransactStatements": {}}"##, .executeTransaction,
                .wrongType(field: "TransactStatements", expected: .array, found: .object)
            ),
            ("{}", .executeTransaction, .invalidField(field: "TransactStatements", reason: .missing)),
        ]
        for (body, operation, expected) in errors {
            #expect(
                wireError { () throws(WireError) in try PartiQLRequest(parsing: buffer(body), operation: operation) }
                    == expected, "\(body)")
        }
    }
}
