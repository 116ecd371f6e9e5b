import DynamoWire
import Foundation
import NIOCore
import Testing

@testable import LoadGenerator

@Suite struct ResponseParserTests {
    private func parseAll(_ chunks: [String]) throws -> [ParsedResponse] {
        var parser = ResponseParser()
        var buffer = ByteBuffer()
        var responses: [ParsedResponse] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let response = try parser.next(&buffer) { responses.append(response) }
        }
        return responses
    }

    @Test func readsContentLengthFramedResponsesSplitAnywhere() throws {
        let one = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Dynamo-Cache: hit\r\n\r\n{}"
        let two = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-dynamo-cache: miss\r\n\r\n{\"a\"}"
        let stream = one + two
        // Every split point of the two pipelined responses gives the same two answers.
        for split in 0...stream.utf8.count {
            let bytes = Array(stream.utf8)
            let chunks = [
                String(decoding: bytes[..<split], as: UTF8.self), String(decoding: bytes[split...], as: UTF8.self),
            ]
            let responses = try parseAll(chunks)
            #expect(responses.map(\.status) == [200, 200])
            #expect(responses.map(\.cacheStatus) == [.hit, .miss])
            #expect(responses.allSatisfy { $0.keepAlive && $0.body == nil })
        }
    }

    @Test func keepsErrorBodiesOnly() throws {
        let body = #"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"x"}"#
        let responses = try parseAll(["HTTP/1.1 400 Bad Request\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"])
        #expect(responses.count == 1)
        #expect(responses[0].status == 400)
        #expect(responses[0].body.map { String(buffer: $0) } == body)
    }

    @Test func readsChunkedBodies() throws {
        // An error answer, so that its body is kept.
        let stream =
            "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        for size in [1, 3, 7, stream.utf8.count] {
            let bytes = Array(stream.utf8)
            let chunks = stride(from: 0, to: bytes.count, by: size).map {
                String(decoding: bytes[$0..<min($0 + size, bytes.count)], as: UTF8.self)
            }
            let responses = try parseAll(chunks)
            #expect(responses.count == 2)
            #expect(responses.first?.body.map { String(buffer: $0) } == "{\"a\":1}")
        }
    }

    @Test func connectionCloseAndHTTP10EndKeepAlive() throws {
        let responses = try parseAll([
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        ])
        #expect(responses.map(\.keepAlive) == [false, false, true])
    }

    @Test func aBodyFramedByTheCloseEndsWithIt() throws {
        var parser = ResponseParser()
        var buffer = ByteBuffer(string: "HTTP/1.1 503 Unavailable\r\n\r\n{\"partial\":")
        #expect(try parser.next(&buffer) == nil)
        buffer.writeString("1}")
        #expect(try parser.next(&buffer) == nil)
        let closing = parser.finishAtClose()
        let response = try #require(closing)
        #expect(response.body.map { String(buffer: $0) } == "{\"partial\":1}")
        #expect(!response.keepAlive)
    }

    @Test func rejectsWhatIsNotHTTP() {
        var parser = ResponseParser()
        var buffer = ByteBuffer(string: "SSH-2.0-OpenSSH\r\n\r\n")
        #expect(throws: ResponseParseError.malformedHead) { try parser.next(&buffer) }
        var chunked = ResponseParser()
        var bad = ByteBuffer(string: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        #expect(throws: ResponseParseError.malformedChunk) { try chunked.next(&bad) }
    }
}

@Suite struct TargetAndWorkloadTests {
    @Test func parsesTargets() throws {
        let named = try BenchTarget(parsing: "direct=http://127.0.0.1:8001/")
        #expect(named.name == "direct" && named.host == "127.0.0.1" && named.port == 8001)
        #expect(named.hostHeader == "127.0.0.1:8001")
        let bare = try BenchTarget(parsing: "http://localhost")
        #expect(bare.name == "localhost:80" && bare.port == 80 && bare.hostHeader == "localhost")
        let v6 = try BenchTarget(parsing: "six=http://[::1]:8000")
        #expect(v6.host == "::1" && v6.port == 8000 && v6.hostHeader == "[::1]:8000")
        let secure = try BenchTarget(parsing: "https://dynamodb.eu-west-1.amazonaws.com")
        #expect(secure.tls != nil && secure.port == 443 && secure.hostHeader == "dynamodb.eu-west-1.amazonaws.com")
        #expect(secure.url == "https://dynamodb.eu-west-1.amazonaws.com")
        for bad in ["x=http://h:99999", "x=http://h:1/path", "x=ftp://h", "x=localhost:8000"] {
            #expect(throws: BenchError.self) { try BenchTarget(parsing: bad) }
        }
    }

    private func generator(_ workload: Workload, options: WorkloadOptions = WorkloadOptions()) -> RequestGenerator {
        let dataset = Dataset(table: "bench", items: 100, itemBytes: 120, partitionSize: 10)
        return RequestGenerator(
            workload: workload, options: options, dataset: dataset,
            samplers: Samplers(dataset: dataset, options: options), cursor: SharedCursor(start: 95), seed: 7)
    }

    @Test(arguments: Workload.allCases)
    func everyWorkloadSendsValidJSON(workload: Workload) throws {
        for kind in WriteKind.allCases {
            var requests = generator(workload, options: WorkloadOptions(writeKind: kind))
            for _ in 0..<200 {
                let request = requests.next()
                let object = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
                switch request.operation {
                case "GetItem", "Query", "PutItem", "UpdateItem": #expect(object["TableName"] as? String == "bench")
                case "BatchGetItem":
                    let keys = try #require(
                        ((object["RequestItems"] as? [String: Any])?["bench"] as? [String: Any])?["Keys"] as? [Any])
                    #expect(keys.count == 10)
                    // DynamoDB rejects a batch that names a key twice.
                    #expect(Set(keys.map { "\($0)" }).count == 10)
                default: Issue.record("unexpected \(request.operation)")
                }
            }
        }
    }

    @Test func mixesWriteAboutTheirShare() {
        for (workload, share) in [(Workload.mix95, 0.05), (.mix50, 0.5)] {
            var requests = generator(workload)
            let writes = (0..<4000).count(where: { _ in requests.next().operation == "PutItem" })
            #expect(abs(Double(writes) / 4000 - share) < 0.03)
        }
    }

    @Test func getOnceWalksTheKeysInOrderFromItsStart() throws {
        var requests = generator(.getOnce)
        let keys = try (0..<10).map { _ -> String in
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(requests.next().body)) as? [String: Any])
            let key = try #require(object["Key"] as? [String: [String: String]])
            return "\(key["pk"]!["S"]!)/\(key["sk"]!["N"]!)"
        }
        #expect(
            keys == [
                "p000009/5", "p000009/6", "p000009/7", "p000009/8", "p000009/9",
                "p000000/0", "p000000/1", "p000000/2", "p000000/3", "p000000/4",
            ])
    }

    @Test func itemsHaveTheirSize() {
        let dataset = Dataset(table: "bench", items: 10, itemBytes: 1000, partitionSize: 3)
        #expect(dataset.partitions == 4)
        #expect(dataset.payload(stamp: 0xABC).utf8.count == 980)
        #expect(dataset.payload(stamp: 0xABC).hasPrefix("0000000000000abc"))
        #expect(
            !TableName.isValid("a b") && !TableName.isValid("ab") && TableName.isValid("t.a-b_c"))
    }
}
