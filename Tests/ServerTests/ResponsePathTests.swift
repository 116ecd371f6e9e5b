import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Proxy
import Testing

@testable import Server

/// The data plane's own HTTP/1 server side (DataPlaneHandler and ResponseWriter) on an EmbeddedChannel: framing,
/// pipelining, flushing and quiescing, byte for byte and without sockets or clocks.
@Suite struct ResponsePathTests {
    /// A storage server whose answers the test gives: each request waits until `answer` is called.
    final class ParkedStorage: StorageServer, Sendable {
        private let parked = NIOLockedValueBox<[EventLoopPromise<StorageResponse>]>([])

        func execute(_ request: StorageRequest, on eventLoop: any EventLoop) -> EventLoopFuture<StorageResponse> {
            let promise = eventLoop.makePromise(of: StorageResponse.self)
            parked.withLockedValue { $0.append(promise) }
            return promise.futureResult
        }

        var waiting: Int { parked.withLockedValue { $0.count } }

        func answer(_ body: String) {
            let promise = parked.withLockedValue { $0.removeFirst() }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain")
            promise.succeed(
                StorageResponse(
                    head: HTTPResponseHead(version: .http1_1, status: .ok, headers: headers),
                    body: ByteBuffer(string: body)))
        }
    }

    /// Counts the flushes and reads that leave the data plane's handlers for the socket.
    final class SocketSide: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var flushes = 0
        var reads = 0

        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    let storage = ParkedStorage()
    let channel = EmbeddedChannel()
    let socket = SocketSide()

    init() throws {
        let proxy = DynamoProxy(
            storage: storage, configuration: ProxyConfiguration(shards: 1),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try channel.pipeline.syncOperations.addHandler(socket)
        try HTTPListener.addDataPlaneHTTP(
            to: channel.pipeline.syncOperations, proxy: proxy, maxRequestBytes: 1 << 20, timer: nil)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    /// A GetItem whose body is not JSON: the proxy answers it at once (composed, with a request id and date).
    static func malformed(version: String = "1.1", method: String = "POST", extra: String = "") -> String {
        "\(method) / HTTP/\(version)\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n\(extra)"
            + "Content-Length: 1\r\n\r\n{"
    }

    /// A request the proxy passes to the storage server: answered when the test says.
    static let forwarded = "GET /moto-api/ HTTP/1.1\r\nHost: x\r\n\r\n"

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Everything written since the last call.
    func written() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    static func responses(_ text: String) -> [String] {
        text.components(separatedBy: "HTTP/1.").dropFirst().map { "HTTP/1." + $0 }
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndFlushedOncePerRead() throws {
        try send(Self.malformed() + Self.malformed() + Self.forwarded + Self.malformed())
        // The two answered at once leave in one flush; the one after the storage server's waits its turn.
        var answers = Self.responses(try written())
        #expect(answers.count == 2)
        #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 400 Bad Request\r\n") })
        #expect(socket.flushes == 1)
        #expect(storage.waiting == 1)
        let readsBefore = socket.reads
        channel.read()
        #expect(socket.reads == readsBefore, "read on while a pipelined request waits")

        storage.answer("from storage")
        answers = Self.responses(try written())
        #expect(answers.count == 2)
        #expect(answers.first?.hasPrefix("HTTP/1.1 200 OK\r\n") == true)
        #expect(answers.first?.hasSuffix("\r\n\r\nfrom storage") == true)
        #expect(answers.last?.hasPrefix("HTTP/1.1 400 Bad Request\r\n") == true)
        #expect(socket.reads == readsBefore + 1, "the held read was not let go")
        #expect(channel.isActive)
    }

    @Test func malformedBytesAfterAPendingRequestAreAnsweredAfterIt() throws {
        try send(Self.forwarded + "NOT HTTP\r\n\r\n")
        #expect(try written().isEmpty, "the parser error was answered before the request ahead of it")
        #expect(channel.isActive)
        storage.answer("first")
        let answers = Self.responses(try written())
        #expect(answers.count == 2)
        #expect(answers.first?.hasSuffix("\r\n\r\nfirst") == true)
        #expect(answers.last?.hasPrefix("HTTP/1.1 400 Bad Request\r\n") == true)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func aComposedAnswerIsFramedWithItsLengthRequestIDAndDate() throws {
        try send(Self.malformed())
        let answer = try written()
        let parts = answer.components(separatedBy: "\r\n\r\n")
        let head = try #require(parts.first)
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        let lines = head.components(separatedBy: "\r\n")
        #expect(lines.first == "HTTP/1.1 400 Bad Request")
        func header(_ name: String) -> [String] {
            lines.dropFirst().filter { $0.lowercased().hasPrefix(name.lowercased() + ": ") }
                .map { String($0.dropFirst(name.count + 2)) }
        }
        #expect(header("content-length") == [String(body.utf8.count)])
        #expect(header("x-amzn-RequestId").first?.count == 52)
        #expect(header("date").first?.hasSuffix(" GMT") == true)
        #expect(header("x-amz-crc32").count == 1)
        #expect(header("connection").isEmpty)
        #expect(body.contains("SerializationException"))
    }

    @Test func theAnswerToHEADHasItsLengthButNoBody() throws {
        try send(Self.malformed(method: "HEAD") + Self.malformed())
        let answers = Self.responses(try written())
        #expect(answers.count == 2)
        func length(_ answer: String) -> String? {
            answer.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length: ") }
        }
        let head = try #require(answers.first)
        #expect(head.hasSuffix("\r\n\r\n"))
        #expect(length(head) != nil)
        #expect(length(head) == length(answers[1]))
        #expect(answers[1].hasSuffix("}"))
    }

    @Test func http10IsKeptAliveOnlyWhenItAsks() throws {
        try send(Self.malformed(version: "1.0", extra: "Connection: keep-alive\r\n"))
        #expect(try written().contains("\r\nconnection: keep-alive\r\n\r\n"))
        #expect(channel.isActive)
        try send(Self.malformed(version: "1.0"))
        #expect(try written().contains("\r\nconnection: close\r\n\r\n"))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() throws {
        try send(
            "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nExpect: 100-continue\r\n"
                + "Content-Length: 1\r\n\r\n")
        #expect(try written() == "HTTP/1.1 100 Continue\r\n\r\n")
        try send("{")
        #expect(try written().hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }

    @Test func quiescingClosesAnIdleConnectionAtOnceAndABusyOneAfterItsAnswer() throws {
        try send(Self.forwarded)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(channel.isActive)
        storage.answer("last")
        let answer = try written()
        #expect(answer.contains("\r\nconnection: close\r\n\r\nlast"))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)

        let idle = try ResponsePathTests()
        idle.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        idle.channel.embeddedEventLoop.run()
        #expect(!idle.channel.isActive)
    }

    @Test(arguments: [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_796_173_222, "Wed, 02 Dec 2026 01:00:22 GMT"),
        (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
    ])
    func datesAreFormattedAsHTTPWants(seconds: Int, expected: String) {
        #expect(HTTPDate.format(seconds) == expected)
    }

    @Test func theDateIsFormattedOncePerSecond() {
        let clock = NIOLockedValueBox(100)
        var date = HTTPDate(now: { clock.withLockedValue { $0 } })
        var buffer = ByteBuffer()
        date.writeHeader(into: &buffer)
        clock.withLockedValue { $0 = 101 }
        date.writeHeader(into: &buffer)
        #expect(
            String(buffer: buffer)
                == "date: Thu, 01 Jan 1970 00:01:40 GMT\r\ndate: Thu, 01 Jan 1970 00:01:41 GMT\r\n")
    }
}
