import FakeServers
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import Upstream

/// The data plane end to end on real sockets, against a fake storage server whose behaviour each test picks.
@Suite(.timeLimit(.minutes(1)))
struct DataPlaneTests {
    static let okHeaders = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", "REQ1"),
        ("x-amz-crc32", "2745614147"),
        ("Server", "fake"),
    ]

    /// `okHeaders` with the checksum of `body`: the proxy refuses an answer that does not match its own.
    static func okHeaders(for body: String) -> [(String, String)] {
        okHeaders.map { $0.0 == "x-amz-crc32" ? ($0.0, String(zlibCRC32(Array(body.utf8)))) : $0 }
    }

    @Test func forwardsStatusHeadersAndBodyUnchanged() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in
            .respond(status: .ok, headers: Self.okHeaders, body: "{}")
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        let response = try await proxy.send(headers: [
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc"
            ),
            ("X-Amz-Date", "20260101T000000Z"),
            ("X-Amz-Security-Token", "token"),
            ("User-Agent", "test-agent"),
        ])
        #expect(response.head.status == .ok)
        #expect(String(buffer: response.body) == "{}")
        #expect(response.head.headers.first(name: "x-amzn-requestid") == "REQ1")
        #expect(response.head.headers.first(name: "x-amz-crc32") == "2745614147")
        #expect(response.head.headers.first(name: "server") == "fake")
        let seen = try #require(upstream.received.first)
        #expect(seen.body == #"{"TableName":"t","Key":{"pk":{"S":"a"}},"ConsistentRead":true}"#)
        for name in ["authorization", "x-amz-date", "x-amz-security-token", "user-agent", "x-amz-target", "host"] {
            #expect(seen.head.headers.first(name: name) != nil, "header \(name) not forwarded")
        }
        // The client's Host is kept: a signature covers it.
        #expect(seen.head.headers.first(name: "host") == "127.0.0.1:\(proxy.port)")
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func passesErrorsAndNonDynamoRequestsThrough() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { head, _ in
            head.uri == "/moto-api/"
                ? .respond(status: .ok, headers: [("Content-Type", "text/html")], body: "<html>moto</html>")
                : .respond(
                    status: .badRequest,
                    headers: Self.okHeaders(
                        for:
                            #"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"nope"}"#
                    ),
                    body: #"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"nope"}"#
                )
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        let error = try await proxy.send()
        #expect(error.head.status == .badRequest)
        #expect(errorFields(error.body)?.type == "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException")
        let other = try await proxy.send(target: nil, body: "not json at all", uri: "/moto-api/")
        #expect(other.head.status == .ok)
        #expect(String(buffer: other.body) == "<html>moto</html>")
        #expect(upstream.received.last?.body == "not json at all")
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func reusesKeepAliveConnectionsToTheStorageServer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in
            .respond(status: .ok, headers: Self.okHeaders, body: "{}")
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        for _ in 0..<5 { _ = try await proxy.send() }
        #expect(upstream.received.count == 5)
        #expect(upstream.connections == 1)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    /// A keep-alive server may close an idle connection just as the proxy writes on it. A read is then sent once
    /// more on a new connection; a write is not (the server may have acted on it): its client gets the 500.
    @Test(arguments: [
        ("DynamoDB_20120810.GetItem", #"{"TableName":"t","Key":{"pk":{"S":"a"}},"ConsistentRead":true}"#, true),
        ("DynamoDB_20120810.PutItem", #"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#, false),
    ])
    func resendsOnlyReadsWhenAPooledConnectionClosesBeforeAnswering(target: String, body: String, resent: Bool)
        async throws
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let seen = NIOLockedValueBox(0)
        let upstream = try await FakeUpstream(group: group) { _, _ in
            // The second request (the first on the pooled connection) meets a close.
            let index = seen.withLockedValue { count in
                defer { count += 1 }
                return count
            }
            return index == 1 ? .close : .respond(status: .ok, headers: Self.okHeaders, body: "{}")
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        #expect(try await proxy.send(target: target, body: body).head.status == .ok)
        let second = try await proxy.send(target: target, body: body)
        if resent {
            #expect(second.head.status == .ok)
            #expect(upstream.received.count == 3)
            #expect(upstream.connections == 2)
        } else {
            #expect(second.head.status == .internalServerError)
            #expect(upstream.received.count == 2)
        }
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func opensANewConnectionWhenTheStorageServerClosesEach() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group, keepAlive: false) { _, _ in
            .respond(status: .ok, headers: Self.okHeaders, body: "{}")
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        for _ in 0..<3 {
            let response = try await proxy.send()
            #expect(response.head.status == .ok)
            // Connection: close from the storage server is about its hop, not ours.
            #expect(response.head.headers.first(name: "connection") == nil)
        }
        #expect(upstream.connections == 3)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func aCachedGetItemIsAnsweredFromMemoryOverTheWire() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in
            .respond(
                status: .ok, headers: Self.okHeaders(for: #"{"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}"#),
                body: #"{"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}"#)
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        let eventual = #"{"TableName":"t","Key":{"pk":{"S":"a"}}}"#
        let miss = try await proxy.send(body: eventual)
        let hit = try await proxy.send(body: eventual)
        #expect(miss.head.headers.first(name: "x-dynamo-cache") == "miss")
        #expect(hit.head.headers.first(name: "x-dynamo-cache") == "hit")
        #expect(String(buffer: hit.body) == String(buffer: miss.body))
        #expect(hit.head.headers.first(name: "x-amz-crc32").flatMap(UInt32.init) == zlibCRC32(Array(buffer: hit.body)))
        #expect(hit.head.headers.first(name: "x-amzn-requestid")?.count == 52)
        #expect(upstream.received.count == 1)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func unreachableStorageServerIsServiceUnavailable() async throws {
        // A port that was just free: nothing listens there.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let placeholder = try await FakeUpstream(group: group) { _, _ in .hang }
        let deadPort = placeholder.port
        try await placeholder.stop()
        let proxy = try await ProxyHarness.start(upstreamPort: deadPort)
        let started = ContinuousClock.now
        let response = try await proxy.send()
        #expect(response.head.status == .serviceUnavailable)
        #expect(errorFields(response.body)?.type.hasSuffix("#ServiceUnavailable") == true)
        #expect(ContinuousClock.now - started < .seconds(5))
        try await proxy.stop()
        try await group.shutdownGracefully()
    }

    @Test func silentStorageServerTimesOutAsInternalServerError() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in .hang }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port, responseTimeout: .milliseconds(300))
        let started = ContinuousClock.now
        let response = try await proxy.send()
        #expect(response.head.status == .internalServerError)
        #expect(errorFields(response.body)?.type.hasSuffix("#InternalServerError") == true)
        #expect(ContinuousClock.now - started < .seconds(3))
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func droppedConnectionIsInternalServerError() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in .close }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        let response = try await proxy.send()
        #expect(response.head.status == .internalServerError)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func malformedJSONIsRefusedWithoutReachingTheStorageServer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in
            .respond(status: .ok, headers: Self.okHeaders, body: "{}")
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        for body in ["not json", #"{"TableName":"t""#, "[1,2]", ""] {
            let response = try await proxy.send(body: body)
            #expect(response.head.status == .badRequest, "body \(body)")
            let fields = try #require(errorFields(response.body), "body \(body)")
            #expect(fields.type.hasSuffix("#SerializationException") || fields.type.hasSuffix("#ValidationException"))
            let crc = try #require(response.head.headers.first(name: "x-amz-crc32").flatMap(UInt32.init))
            #expect(crc == zlibCRC32(Array(buffer: response.body)))
            #expect(response.head.headers.first(name: "content-type") == "application/x-amz-json-1.0")
            #expect(response.head.headers.first(name: "x-dynamo-cache") == "rejected")
            // Answers the proxy composes carry a request id in DynamoDB's shape, as the server's do.
            let id = response.head.headers.first(name: "x-amzn-requestid") ?? ""
            #expect(id.count == 52 && id.allSatisfy { $0.isUppercase || $0.isNumber })
        }
        #expect(upstream.received.isEmpty)
        // The connection and the proxy still serve a good request afterwards.
        #expect(try await proxy.send().head.status == .ok)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func oversizedBodyIsRefusedBeforeItIsRead() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in .hang }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        let request = Array(
            """
            POST / HTTP/1.1\r
            Host: x\r
            X-Amz-Target: DynamoDB_20120810.PutItem\r
            Content-Length: 16777217\r
            \r

            """.utf8
        )
        let (text, closed) = try await RawClient.exchange(
            port: proxy.port, bytes: request, group: group, timeout: .seconds(1))
        #expect(text.hasPrefix("HTTP/1.1 400"))
        #expect(text.contains("ValidationException"))
        #expect(closed == false)  // it waits for the body it refused, so the client can read the answer
        #expect(upstream.received.isEmpty)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in
            .respond(status: .ok, headers: Self.okHeaders, body: "{}")
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        let body = #"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#
        let request = Array(
            """
            POST / HTTP/1.1\r
            Host: x\r
            X-Amz-Target: DynamoDB_20120810.PutItem\r
            Expect: 100-continue\r
            Connection: close\r
            Content-Length: \(body.utf8.count)\r
            \r
            \(body)
            """.utf8
        )
        let (text, _) = try await RawClient.exchange(
            port: proxy.port, bytes: request, group: group, timeout: .seconds(2))
        #expect(text.hasPrefix("HTTP/1.1 100 Continue\r\n"))
        #expect(text.contains("HTTP/1.1 200 OK"))
        // Expect is hop-by-hop: the proxy already has the body, the storage server is not asked to wait.
        #expect(upstream.received.first?.head.headers.first(name: "expect") == nil)
        #expect(upstream.received.first?.body == body)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func malformedHTTPGetsAJSONErrorAndAClose() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in .hang }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        let (text, closed) = try await RawClient.exchange(
            port: proxy.port,
            bytes: Array("GARBAGE\u{1} / HTTP/9.9\r\nno colon here\r\n\r\n".utf8),
            group: group
        )
        #expect(text.hasPrefix("HTTP/1.1 400"))
        #expect(text.contains("#SerializationException"))
        #expect(closed)
        try await proxy.stop()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func gracefulShutdownLetsInFlightRequestsFinish() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group) { _, _ in
            .respond(
                status: .ok, headers: Self.okHeaders(for: #"{"late":true}"#), body: #"{"late":true}"#,
                delay: .milliseconds(500))
        }
        let proxy = try await ProxyHarness.start(upstreamPort: upstream.port)
        async let inFlight = proxy.send()
        try await Task.sleep(for: .milliseconds(150))
        await proxy.services.triggerGracefulShutdown()
        let response = try await inFlight
        #expect(response.head.status == .ok)
        #expect(String(buffer: response.body) == #"{"late":true}"#)
        try await proxy.running.value
        await proxy.client.shutdown()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }
}

/// zlib's CRC-32, bit by bit: an independent reference for the checksum the proxy sends.
func zlibCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}
