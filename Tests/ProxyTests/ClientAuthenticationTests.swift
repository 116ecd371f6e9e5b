import AWSAuth
import Foundation
import NIOCore
import NIOHTTP1
import Proxy
import Testing

/// `--client-auth sigv4`: who may use the proxy, what they may touch, and whose cache entries they see. Every
/// refusal is checked to have reached the storage server not at all.
@Suite struct ClientAuthenticationTests {
    static let now = 1_795_688_976  // 2026-11-26T10:29:36Z
    static let clients = try! ClientCredentials(
        parsing: """
            [admin]
            aws_access_key_id = AKADMIN
            aws_secret_access_key = admin-secret
            access = admin
            [second]
            aws_access_key_id = AKSECOND
            aws_secret_access_key = second-secret
            [reader]
            aws_access_key_id = AKREADER
            aws_secret_access_key = reader-secret
            access = read
            [orders]
            aws_access_key_id = AKORDERS
            aws_secret_access_key = orders-secret
            tables = orders, orders-archive-*
            """)

    static func fixture() -> ProxyFixture {
        ProxyFixture(authenticator: ClientAuthenticator(clients: clients, wallClock: { now }))
    }

    /// A request signed as botocore signs it, at `time`.
    static func signed(
        _ operation: String, _ body: String, key: String, secret: String, time: Int = now,
        target: String? = nil, region: String = "eu-west-1", extra: [(String, String)] = []
    ) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
        let amzDate = SigV4.amzDate(unixSeconds: time)
        let fullTarget = target ?? "DynamoDB_20120810.\(operation)"
        var signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: key, secretAccessKey: secret), region: region)
        let authorization = Array(body.utf8).withUnsafeBytes {
            signer.authorization(host: "proxy:8000", amzDate: amzDate, target: fullTarget, body: $0)
        }
        head.headers.add(name: "Host", value: "proxy:8000")
        head.headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        head.headers.add(name: "X-Amz-Target", value: fullTarget)
        head.headers.add(name: "X-Amz-Date", value: amzDate)
        head.headers.add(name: "Authorization", value: authorization)
        for (name, value) in extra { head.headers.add(name: name, value: value) }
        return head
    }

    static let secrets = [
        "AKADMIN": "admin-secret", "AKSECOND": "second-secret", "AKREADER": "reader-secret",
        "AKORDERS": "orders-secret",
    ]

    static func call(_ f: ProxyFixture, _ operation: String, _ body: String, as key: String) -> Answer {
        f.send(signed(operation, body, key: key, secret: secrets[key]!), body)
    }

    static func errorType(_ answer: Answer) -> String? {
        (answer.json?["__type"] as? String)?.split(separator: "#").last.map(String.init)
    }

    static let getA = #"{"TableName":"orders","Key":{"pk":{"S":"a"}}}"#

    @Test func refusalsAnswerAsDynamoDBAndSendNothing() {
        let f = Self.fixture()
        var unsigned = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
        unsigned.headers.add(name: "X-Amz-Target", value: "DynamoDB_20120810.GetItem")
        let cases: [(HTTPRequestHead, String, String)] = [
            (unsigned, "MissingAuthenticationTokenException", "Request is missing Authentication Token"),
            (
                Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "wrong"), "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                    + "Secret Access Key and signing method. Consult the service documentation for details."
            ),
            (
                Self.signed("GetItem", Self.getA, key: "AKNOBODY", secret: "x"), "UnrecognizedClientException",
                "The security token included in the request is invalid."
            ),
            (
                Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret", time: Self.now - 360),
                "InvalidSignatureException",
                "Signature expired: 20261126T102336Z is now earlier than 20261126T102436Z (20261126T102936Z - 5 min.)"
            ),
            (
                Self.signed(
                    "GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret",
                    extra: [("X-Amz-Security-Token", "t")]),
                "UnrecognizedClientException", "The security token included in the request is invalid."
            ),
        ]
        for (head, type, message) in cases {
            let answer = f.send(head, Self.getA)
            #expect(answer.code == 400, "\(answer.body)")
            #expect(Self.errorType(answer) == type, "\(answer.body)")
            #expect(answer.json?["message"] as? String == message, "\(answer.body)")
            #expect(
                answer.response?.headers.first(name: "x-amz-crc32") == answer.response.map { String(crc32($0.body)) })
        }
        // A body changed after signing.
        let head = Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret")
        #expect(
            Self.errorType(f.send(head, Self.getA.replacingOccurrences(of: "\"a\"", with: "\"b\"")))
                == "InvalidSignatureException")
        #expect(f.storage.sent.isEmpty)
    }

    /// The head alone refuses an unknown key before a large (or unannounced) body is read; an ordinary small
    /// request is refused after, by the one full check, so the work is not done twice.
    @Test func aRequestAnnouncingALargeBodyIsRefusedFromItsHead() {
        let f = Self.fixture()
        func head(length: String?, expect: Bool = false) -> HTTPRequestHead {
            var head = Self.signed("GetItem", Self.getA, key: "AKNOBODY", secret: "x")
            if let length { head.headers.add(name: "Content-Length", value: length) }
            if expect { head.headers.add(name: "Expect", value: "100-continue") }
            return head
        }
        for large in [head(length: "8000000"), head(length: nil), head(length: "100", expect: true)] {
            let refusal = f.proxy.earlyRefusal(large)
            #expect(refusal.map { String(buffer: $0.body) }?.contains("UnrecognizedClientException") == true)
        }
        #expect(f.proxy.earlyRefusal(head(length: "100")) == nil)
        #expect(Self.errorType(f.send(head(length: "100"), Self.getA)) == "UnrecognizedClientException")
        var admin = Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret")
        admin.headers.add(name: "Content-Length", value: "8000000")
        #expect(f.proxy.earlyRefusal(admin) == nil)  // only the signature over the body remains
        #expect(f.storage.sent.isEmpty)
    }

    @Test func aValidSignatureIsServedAndMalformedBodiesAreStillSerializationErrors() {
        let f = Self.fixture()
        let answer = Self.call(f, "GetItem", Self.getA, as: "AKADMIN")
        #expect(f.storage.sent.count == 1)
        f.storage.answer(#"{"Item":{"pk":{"S":"a"}}}"#)
        #expect(answer.status == "miss")
        // The body is read before access is decided, as DynamoDB does.
        #expect(Self.errorType(Self.call(f, "GetItem", "{not json", as: "AKORDERS")) == "SerializationException")
        // Other services and the Streams API are authenticated too.
        let streams = f.send(
            Self.signed(
                "DescribeStream", "{}", key: "AKADMIN", secret: "bad", target: "DynamoDBStreams_20120810.DescribeStream"
            ),
            "{}")
        #expect(Self.errorType(streams) == "InvalidSignatureException")
        #expect(f.storage.sent.count == 1)
    }

    /// (client, operation, body, allowed)
    static let rules: [(String, String, String, Bool)] = [
        ("AKREADER", "GetItem", getA, true),
        (
            "AKREADER", "Query",
            #"{"TableName":"t","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}}}"#, true
        ),
        ("AKREADER", "ExecuteStatement", #"{"Statement":"SELECT * FROM \"t\""}"#, true),
        ("AKREADER", "ListTables", "{}", true),
        ("AKREADER", "PutItem", #"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#, false),
        ("AKREADER", "DeleteItem", #"{"TableName":"t","Key":{"pk":{"S":"a"}}}"#, false),
        ("AKREADER", "BatchWriteItem", #"{"RequestItems":{"t":[{"DeleteRequest":{"Key":{"pk":{"S":"a"}}}}]}}"#, false),
        ("AKREADER", "ExecuteStatement", #"{"Statement":"DELETE FROM \"t\" WHERE pk = 'a'"}"#, false),
        ("AKREADER", "CreateTable", #"{"TableName":"t"}"#, false),
        ("AKREADER", "TagResource", #"{"ResourceArn":"arn:aws:dynamodb:eu-west-1:1:table/t","Tags":[]}"#, false),
        ("AKORDERS", "GetItem", getA, true),
        ("AKORDERS", "PutItem", #"{"TableName":"orders-archive-2026","Item":{"pk":{"S":"a"}}}"#, true),
        // An ARN may name another account's table of the same name.
        (
            "AKORDERS", "GetItem", #"{"TableName":"arn:aws:dynamodb:eu-west-1:1:table/orders","Key":{"pk":{"S":"a"}}}"#,
            false
        ),
        (
            "AKORDERS", "BatchGetItem", #"{"RequestItems":{"arn:aws:dynamodb:eu-west-1:1:table/orders":{"Keys":[]}}}"#,
            false
        ),
        (
            "AKADMIN", "GetItem", #"{"TableName":"arn:aws:dynamodb:eu-west-1:1:table/orders","Key":{"pk":{"S":"a"}}}"#,
            true
        ),
        // readwrite writes items, but does not administer tables.
        ("AKSECOND", "PutItem", #"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#, true),
        ("AKSECOND", "ExecuteStatement", #"{"Statement":"DELETE FROM t WHERE pk = 'a'"}"#, true),
        ("AKSECOND", "CreateTable", #"{"TableName":"t"}"#, false),
        (
            "AKSECOND", "PutResourcePolicy", #"{"ResourceArn":"arn:aws:dynamodb:eu-west-1:1:table/t","Policy":"{}"}"#,
            false
        ),
        (
            "AKSECOND", "ExportTableToPointInTime",
            #"{"TableArn":"arn:aws:dynamodb:eu-west-1:1:table/t","S3Bucket":"b"}"#, false
        ),
        ("AKSECOND", "SomeFutureOperation", #"{"TableName":"t"}"#, false),
        ("AKSECOND", "ListTables", "{}", true),
        ("AKADMIN", "CreateTable", #"{"TableName":"t"}"#, true),
        // A statement whose tables cannot be told counts as a write, whatever follows or precedes it.
        (
            "AKREADER", "BatchExecuteStatement",
            #"{"Statements":[{"Statement":"SELECT * FROM t WHERE x IN (SELECT y FROM u)"},{"Statement":"DELETE FROM t WHERE pk = 'a'"}]}"#,
            false
        ),
        (
            "AKREADER", "ExecuteTransaction",
            #"{"TransactStatements":[{"Statement":"SELECT\u000c* FROM t"},{"Statement":"UPDATE t SET v = 1 WHERE pk = 'a'"}]}"#,
            false
        ),
        ("AKORDERS", "GetItem", #"{"TableName":"customers","Key":{"pk":{"S":"a"}}}"#, false),
        ("AKORDERS", "GetItem", #"{"TableName":"orders-x","Key":{"pk":{"S":"a"}}}"#, false),
        (
            "AKORDERS", "BatchGetItem",
            #"{"RequestItems":{"orders":{"Keys":[{"pk":{"S":"a"}}]},"customers":{"Keys":[{"pk":{"S":"a"}}]}}}"#, false
        ),
        ("AKORDERS", "BatchGetItem", #"{"RequestItems":{"orders":{"Keys":[{"pk":{"S":"a"}}]}}}"#, true),
        (
            "AKORDERS", "TransactWriteItems",
            #"{"TransactItems":[{"Put":{"TableName":"orders","Item":{"pk":{"S":"a"}}}},{"Delete":{"TableName":"customers","Key":{"pk":{"S":"a"}}}}]}"#,
            false
        ),
        (
            "AKORDERS", "TransactGetItems",
            #"{"TransactItems":[{"Get":{"TableName":"orders","Key":{"pk":{"S":"a"}}}}]}"#, true
        ),
        ("AKORDERS", "ExecuteStatement", #"{"Statement":"SELECT * FROM \"customers\""}"#, false),
        ("AKORDERS", "ExecuteStatement", #"{"Statement":"SELECT * FROM orders WHERE pk = 'a'"}"#, true),
        ("AKORDERS", "ExecuteStatement", #"{"Statement":"VALUE {'a': 1}"}"#, false),
        ("AKORDERS", "ListTables", "{}", false),
        ("AKORDERS", "DescribeLimits", "{}", false),
        ("AKORDERS", "ListTagsOfResource", #"{"ResourceArn":"arn:aws:dynamodb:eu-west-1:1:table/customers"}"#, false),
        (
            "AKORDERS", "RestoreTableFromBackup",
            #"{"TargetTableName":"orders","BackupArn":"arn:aws:dynamodb:eu-west-1:1:table/customers/backup/0"}"#, false
        ),
        ("AKORDERS", "SomeFutureOperation", #"{"Whatever":1}"#, false),
        ("AKADMIN", "SomeFutureOperation", #"{"Whatever":1}"#, true),
        ("AKADMIN", "ListTables", "{}", true),
    ]

    @Test func sectionsLimitTablesAndWrites() {
        for (key, operation, body, allowed) in Self.rules {
            let f = Self.fixture()
            let answer = Self.call(f, operation, body, as: key)
            if allowed {
                #expect(f.storage.sent.count == 1, "\(key) \(operation) \(body): \(answer.body)")
            } else {
                #expect(f.storage.sent.isEmpty, "\(key) \(operation) \(body) was forwarded")
                #expect(Self.errorType(answer) == "AccessDeniedException", "\(key) \(operation): \(answer.body)")
                let message = answer.json?["Message"] as? String ?? ""
                #expect(message.hasPrefix("User: "), "\(message)")
                #expect(message.contains("dynamodb:\(operation)"), "\(message)")
            }
        }
    }

    @Test func shardIteratorsAreCheckedByTheStreamTheyName() {
        func getRecords(_ iterator: String) -> ProxyFixture {
            let f = Self.fixture()
            let body = #"{"ShardIterator":"\#(iterator)"}"#
            _ = f.send(
                Self.signed(
                    "", body, key: "AKORDERS", secret: "orders-secret", target: "DynamoDBStreams_20120810.GetRecords"),
                body)
            return f
        }
        let stream = "stream/2026-01-01T00:00:00.000|1|AAAAAAAAAAE"
        #expect(getRecords("arn:aws:dynamodb:eu-west-1:1:table/orders/\(stream)").storage.sent.count == 1)
        #expect(getRecords("arn:aws:dynamodb:eu-west-1:1:table/customers/\(stream)").storage.sent.isEmpty)
        #expect(getRecords("opaque-token-of-a-local-server").storage.sent.isEmpty)
    }

    @Test func repeatedIdentityHeadersAreRefused() {
        for name in ["Authorization", "X-Amz-Date", "Host", "Content-Type", "X-Amz-Security-Token"] {
            let f = Self.fixture()
            var head = Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret")
            head.headers.add(name: name, value: name == "Authorization" ? ProxyFixture.bob : "x")
            if name == "X-Amz-Security-Token" { head.headers.add(name: name, value: "y") }
            let answer = f.send(head, Self.getA)
            #expect(Self.errorType(answer) == "SerializationException", "\(name): \(answer.body)")
            #expect(answer.json?["Message"] as? String == "The request has more than one \(name) header")
            #expect(f.storage.sent.isEmpty)
        }
        // `Connection` cannot make the proxy drop a header it decided by.
        let f = Self.fixture()
        var head = Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret")
        head.headers.add(name: "Connection", value: "x-amz-target, authorization")
        _ = f.send(head, Self.getA)
        #expect(f.storage.sent.first?.target == "DynamoDB_20120810.GetItem")
    }

    @Test func theOperationMustBeSigned() {
        let f = Self.fixture()
        // Signed without x-amz-target, which a replay could then change.
        var signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKADMIN", secretAccessKey: "admin-secret"), region: "eu-west-1")
        let date = SigV4.amzDate(unixSeconds: Self.now)
        let authorization = Array(Self.getA.utf8).withUnsafeBytes {
            signer.authorization(
                method: "POST", path: "/", query: "", headers: [("host", "proxy:8000"), ("x-amz-date", date)],
                payloadHash: SigV4.payloadHash($0), amzDate: date)
        }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
        head.headers.add(name: "Host", value: "proxy:8000")
        head.headers.add(name: "X-Amz-Date", value: date)
        head.headers.add(name: "X-Amz-Target", value: "DynamoDB_20120810.DeleteItem")
        head.headers.add(name: "Authorization", value: authorization)
        let answer = f.send(head, Self.getA)
        #expect(Self.errorType(answer) == "IncompleteSignatureException", "\(answer.body)")
        #expect(f.storage.sent.isEmpty)
    }

    @Test func streamsRequestsAreCheckedByTheirStreamsTable() {
        let f = Self.fixture()
        let arn = "arn:aws:dynamodb:eu-west-1:1:table/customers/stream/2026-01-01T00:00:00.000"
        let body = #"{"StreamArn":"\#(arn)"}"#
        let denied = f.send(
            Self.signed(
                "", body, key: "AKORDERS", secret: "orders-secret", target: "DynamoDBStreams_20120810.DescribeStream"),
            body)
        #expect(Self.errorType(denied) == "AccessDeniedException")
        let own = #"{"StreamArn":"arn:aws:dynamodb:eu-west-1:1:table/orders/stream/2026-01-01T00:00:00.000"}"#
        _ = f.send(
            Self.signed(
                "", own, key: "AKORDERS", secret: "orders-secret", target: "DynamoDBStreams_20120810.DescribeStream"),
            own)
        #expect(f.storage.sent.count == 1)
    }

    @Test func eachClientIsANamespaceOfItsOwn() {
        let f = Self.fixture()
        let first = Self.call(f, "GetItem", Self.getA, as: "AKADMIN")
        f.storage.answer(#"{"Item":{"pk":{"S":"a"},"v":{"N":"1"}}}"#)
        #expect(first.status == "miss")
        #expect(Self.call(f, "GetItem", Self.getA, as: "AKADMIN").status == "hit")
        let other = Self.call(f, "GetItem", Self.getA, as: "AKSECOND")
        #expect(f.storage.sent.count == 2)  // not served the other client's entry
        f.storage.answer(#"{"Item":{"pk":{"S":"a"},"v":{"N":"1"}}}"#)
        #expect(other.status == "miss")
        #expect(Self.call(f, "GetItem", Self.getA, as: "AKSECOND").status == "hit")
    }

    /// A storage server keeps one database per region, and a forwarded signature names it.
    @Test func forwardedClientsAreApartPerRegionSignedClientsAreNot() {
        let f = Self.fixture()
        let east = Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret", region: "us-east-1")
        let sydney = Self.signed("GetItem", Self.getA, key: "AKADMIN", secret: "admin-secret", region: "ap-southeast-2")
        _ = f.send(east, Self.getA)
        f.storage.answer(#"{"Item":{"pk":{"S":"a"},"v":{"S":"east"}}}"#)
        #expect(f.send(east, Self.getA).status == "hit")
        _ = f.send(sydney, Self.getA)
        #expect(f.storage.sent.count == 2)  // not the other region's entry

        let signing = ProxyFixture(
            configuration: ProxyConfiguration(shards: 4, namespaces: .shared),
            authenticator: ClientAuthenticator(clients: Self.clients, wallClock: { Self.now }))
        _ = signing.send(east, Self.getA)
        signing.storage.answer(#"{"Item":{"pk":{"S":"a"}}}"#)
        // The proxy signs for its own region whatever the client's: one namespace per client.
        #expect(signing.send(sydney, Self.getA).status == "hit")
    }

    /// Callers whose requests reach different databases (other keys or regions of a local server) can each prove
    /// a different key schema for one table name: the entries stored under the old one are dropped, or a later
    /// PutItem by their owner, looking under the new key names, would leave them stale.
    @Test func aTableWhoseKeySchemaChangesLosesItsEntries() {
        let f = ProxyFixture()
        let byID = #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#
        _ = f.call("GetItem", byID, as: ProxyFixture.alice)
        f.storage.answer(#"{"Item":{"id":{"S":"a"},"v":{"N":"1"}}}"#)
        #expect(f.call("GetItem", byID, as: ProxyFixture.alice).status == "hit")
        func describe(keyedBy name: String, as caller: String) {
            _ = f.call("DescribeTable", #"{"TableName":"users"}"#, as: caller)
            f.storage.answer(
                #"{"Table":{"TableName":"users","KeySchema":[{"AttributeName":"\#(name)","KeyType":"HASH"}],"#
                    + #""AttributeDefinitions":[{"AttributeName":"\#(name)","AttributeType":"S"}]}}"#)
        }
        // Bob's users table, in his database, is keyed by x; while that schema holds, alice's write of her item
        // cannot be placed, and her entry is left as it was.
        describe(keyedBy: "x", as: ProxyFixture.bob)
        let put = f.call(
            "PutItem", #"{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"2"}}}"#, as: ProxyFixture.alice)
        f.storage.answer("{}")
        #expect(put.status == "write")
        // Back to alice's schema: her entry of before her write must not be served.
        describe(keyedBy: "id", as: ProxyFixture.alice)
        let read = f.call("GetItem", byID, as: ProxyFixture.alice)
        #expect(read.status != "hit", "\(read.body)")
    }

    @Test func aSecondTargetHeaderIsRefusedWhoeverSendsIt() {
        // The proxy decides from one operation; a storage server reading the other could do something else.
        for authenticator in [nil, ClientAuthenticator(clients: Self.clients, wallClock: { Self.now })] {
            let f = ProxyFixture(authenticator: authenticator)
            var head = Self.signed("GetItem", Self.getA, key: "AKREADER", secret: "reader-secret")
            head.headers.add(name: "x-amz-target", value: "DynamoDB_20120810.DeleteItem")
            let answer = f.send(head, Self.getA)
            #expect(answer.code == 400 && Self.errorType(answer) == "SerializationException", "\(answer.body)")
            #expect(f.storage.sent.isEmpty)
        }
    }

    @Test func replacingTheClientsAppliesToTheNextRequest() throws {
        let authenticator = ClientAuthenticator(clients: Self.clients, wallClock: { Self.now })
        let f = ProxyFixture(authenticator: authenticator)
        #expect(
            Self.errorType(f.send(Self.signed("GetItem", Self.getA, key: "AKLATE", secret: "late"), Self.getA))
                == "UnrecognizedClientException")
        authenticator.replace(
            try ClientCredentials(parsing: "[late]\naws_access_key_id = AKLATE\naws_secret_access_key = late\n"))
        #expect(authenticator.clientCount == 1)
        _ = f.send(Self.signed("GetItem", Self.getA, key: "AKLATE", secret: "late"), Self.getA)
        #expect(f.storage.sent.count == 1)
        #expect(Self.errorType(Self.call(f, "GetItem", Self.getA, as: "AKADMIN")) == "UnrecognizedClientException")
    }

    @Test func withoutClientAuthenticationSignedUpstreamsShareOneNamespace() {
        let f = ProxyFixture(configuration: ProxyConfiguration(shards: 4, namespaces: .shared))
        let first = f.call("GetItem", Self.getA, as: ProxyFixture.alice)
        f.storage.answer(#"{"Item":{"pk":{"S":"a"}}}"#)
        #expect(first.status == "miss")
        #expect(f.call("GetItem", Self.getA, as: ProxyFixture.bob).status == "hit")
        // Forwarding callers' signatures keeps them apart.
        let apart = ProxyFixture()
        _ = apart.call("GetItem", Self.getA, as: ProxyFixture.alice)
        apart.storage.answer(#"{"Item":{"pk":{"S":"a"}}}"#)
        _ = apart.call("GetItem", Self.getA, as: ProxyFixture.bob)
        #expect(apart.storage.sent.count == 2)
    }
}
