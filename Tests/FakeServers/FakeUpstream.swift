import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A server whose behaviour each test chooses: answer (after a delay), never answer, or drop the
/// connection. It records what it received and how many connections it accepted.
package final class FakeUpstream: Sendable {
    package enum Behavior: Sendable {
        case respond(status: HTTPResponseStatus, headers: [(String, String)], body: String, delay: TimeAmount = .zero)
        case hang
        case close
    }

    package struct Received: Sendable {
        package var head: HTTPRequestHead
        package var body: String
    }

    package let port: Int
    private let channel: any Channel
    private let state: NIOLockedValueBox<(connections: Int, received: [Received])>

    package var connections: Int { state.withLockedValue { $0.connections } }
    package var received: [Received] { state.withLockedValue { $0.received } }

    package init(
        group: any EventLoopGroup,
        keepAlive: Bool = true,
        behavior: @escaping @Sendable (HTTPRequestHead, String) -> Behavior
    ) async throws {
        let state = NIOLockedValueBox((connections: 0, received: [Received]()))
        self.state = state
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                state.withLockedValue { $0.connections += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(keepAlive: keepAlive, state: state, behavior: behavior)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    package func stop() async throws {
        try await channel.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let keepAlive: Bool
        let state: NIOLockedValueBox<(connections: Int, received: [Received])>
        let behavior: @Sendable (HTTPRequestHead, String) -> Behavior
        var head: HTTPRequestHead?
        var body = ""

        init(
            keepAlive: Bool,
            state: NIOLockedValueBox<(connections: Int, received: [Received])>,
            behavior: @escaping @Sendable (HTTPRequestHead, String) -> Behavior
        ) {
            self.keepAlive = keepAlive
            self.state = state
            self.behavior = behavior
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = ""
            case .body(let chunk):
                body += String(buffer: chunk)
            case .end:
                guard let head else { return }
                let received = Received(head: head, body: body)
                state.withLockedValue { $0.received.append(received) }
                switch behavior(head, body) {
                case .hang:
                    break
                case .close:
                    context.close(promise: nil)
                case .respond(let status, let headers, let body, let delay):
                    let loop = context.eventLoop.assumeIsolated()
                    loop.scheduleTask(in: delay) {
                        var responseHeaders = HTTPHeaders(headers)
                        responseHeaders.add(name: "content-length", value: String(body.utf8.count))
                        if !self.keepAlive { responseHeaders.add(name: "connection", value: "close") }
                        context.write(
                            self.wrapOutboundOut(
                                .head(HTTPResponseHead(version: .http1_1, status: status, headers: responseHeaders))),
                            promise: nil
                        )
                        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                        let keepAlive = self.keepAlive
                        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                            if !keepAlive { context.close(promise: nil) }
                        }
                    }
                }
            }
        }
    }
}
