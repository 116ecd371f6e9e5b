import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Proxy
import Server
import ServiceLifecycle
import Upstream

@testable import dynamo_cache

/// The proxy running in-process on a real port in front of a given upstream port, plus a client for it.
/// One test body, real sockets: the same path a deployed proxy takes.
struct ProxyHarness {
    let group: MultiThreadedEventLoopGroup
    let port: Int
    let client: UpstreamClient
    let services: ServiceGroup
    let running: Task<Void, any Error>
    let listener: HTTPListener

    static func start(
        upstreamPort: Int,
        connectTimeout: TimeAmount = .seconds(1),
        responseTimeout: TimeAmount = .seconds(2),
        shutdownGrace: TimeAmount = .seconds(5),
        timeouts: ConnectionTimeouts = ConnectionTimeouts(),
        maxConnections: Int = 10_000,
        authenticator: ClientAuthenticator? = nil
    ) async throws -> ProxyHarness {
        let logger = Logger(label: "test")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = UpstreamClient(
            configuration: UpstreamConfiguration(
                host: "127.0.0.1",
                port: upstreamPort,
                connectTimeout: connectTimeout,
                responseTimeout: responseTimeout
            ),
            group: group,
            logger: logger
        )
        let proxy = DynamoProxy(storage: UpstreamStorage(main: upstream), logger: logger, authenticator: authenticator)
        let listener = HTTPListener.dataPlane(
            DataPlaneConfiguration(
                host: "127.0.0.1", port: 0, shutdownGrace: shutdownGrace, timeouts: timeouts,
                maxConnections: maxConnections),
            proxy: proxy,
            group: group,
            logger: logger
        )
        let address = try await listener.bind()
        let services = ServiceGroup(services: [listener], logger: logger)
        let running = Task { try await services.run() }
        let client = UpstreamClient(
            configuration: UpstreamConfiguration(host: "127.0.0.1", port: address.port!, responseTimeout: .seconds(10)),
            group: group,
            logger: logger
        )
        return ProxyHarness(
            group: group, port: address.port!, client: client, services: services, running: running,
            listener: listener)
    }

    /// Sends one request through the proxy and returns the complete response.
    func send(
        target: String? = "DynamoDB_20120810.GetItem",
        // Strongly consistent: never cached, so every call reaches the storage server.
        body: String = #"{"TableName":"t","Key":{"pk":{"S":"a"}},"ConsistentRead":true}"#,
        uri: String = "/",
        headers: [(String, String)] = []
    ) async throws -> UpstreamResponse {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: uri)
        head.headers.add(name: "host", value: "127.0.0.1:\(port)")
        head.headers.add(name: "content-type", value: "application/x-amz-json-1.0")
        if let target { head.headers.add(name: "x-amz-target", value: target) }
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let loop = group.next()
        return try await client.execute(UpstreamRequest(head: head, body: ByteBuffer(string: body)), on: loop).get()
    }

    func stop() async throws {
        await services.triggerGracefulShutdown()
        try await running.value
        await client.shutdown()
        try await group.shutdownGracefully()
    }
}

/// Writes raw bytes to a port and collects every byte until the peer closes or `timeout` passes.
enum RawClient {
    static func exchange(port: Int, bytes: [UInt8], group: any EventLoopGroup, timeout: TimeAmount = .seconds(5))
        async throws -> (text: String, closedByPeer: Bool)
    {
        let collected = NIOLockedValueBox(ByteBuffer())
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(collected: collected))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
        let timedOut = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        try await channel.closeFuture.get()
        timer.cancel()
        let closedByPeer = !timedOut.withLockedValue { $0 }
        return (collected.withLockedValue { String(buffer: $0) }, closedByPeer)
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let collected: NIOLockedValueBox<ByteBuffer>
        init(collected: NIOLockedValueBox<ByteBuffer>) { self.collected = collected }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var chunk = unwrapInboundIn(data)
            collected.withLockedValue { _ = $0.writeBuffer(&chunk) }
        }
    }
}

/// Decodes a DynamoDB-style error body's `__type` and `message` for assertions, without the code under test.
func errorFields(_ body: ByteBuffer) -> (type: String, message: String)? {
    struct Fields: Decodable {
        var __type: String
        var message: String?
        var Message: String?
    }
    guard let fields = try? JSONDecoder().decode(Fields.self, from: Data(buffer: body)) else { return nil }
    return (fields.__type, fields.message ?? fields.Message ?? "")
}
