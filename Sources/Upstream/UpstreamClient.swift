import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request for the storage server: the head as the client sent it (hop-by-hop headers removed) and its body.
package struct UpstreamRequest: Sendable {
    package var head: HTTPRequestHead
    package var body: ByteBuffer
    /// The request has no side effects, so it may be sent once more on a new connection when a reused keep-alive
    /// connection closes before any byte of the answer: the race of a server closing an idle connection just as
    /// a request is written on it, which is not the client's failure to see. A request with side effects is
    /// never resent: the server may have acted on it before closing, and only the client may decide to retry.
    package var retryOnStaleConnection: Bool

    package init(head: HTTPRequestHead, body: ByteBuffer, retryOnStaleConnection: Bool = false) {
        self.head = head
        self.body = body
        self.retryOnStaleConnection = retryOnStaleConnection
    }
}

/// A complete response from the storage server.
package struct UpstreamResponse: Sendable {
    package var head: HTTPResponseHead
    package var body: ByteBuffer

    package init(head: HTTPResponseHead, body: ByteBuffer) {
        self.head = head
        self.body = body
    }
}

/// The storage-server client: pooled keep-alive HTTP/1.1 connections, one pool per event loop.
///
/// A request issued on the event loop of the client connection that carries it uses that loop's pool, so the
/// whole forward path runs on one thread without a hop or a lock. Servers that close each connection after one
/// response (moto_server) simply get a new connection per request.
package final class UpstreamClient: Sendable {
    package let configuration: UpstreamConfiguration
    private let group: any EventLoopGroup
    /// Immutable after init: a pool per event loop of `group`, each touched only on its own loop.
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamConnectionPool>]
    private let logger: Logger

    package init(configuration: UpstreamConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        var pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamConnectionPool>] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(
                UpstreamConnectionPool(eventLoop: loop, configuration: configuration, logger: logger),
                eventLoop: loop
            )
        }
        self.pools = pools
    }

    /// Sends `request` and completes with the full response, or fails with an ``UpstreamError``.
    /// The returned future completes on `eventLoop`.
    package func execute(_ request: UpstreamRequest, on eventLoop: any EventLoop) -> EventLoopFuture<UpstreamResponse> {
        if let pool = pools[ObjectIdentifier(eventLoop)], eventLoop.inEventLoop {
            return pool.value.execute(request)
        }
        // A caller outside our group (tests, tools): run on one of ours, answer on the caller's loop.
        let loop = group.next()
        let pool = pools[ObjectIdentifier(loop)]!
        return loop.flatSubmit { pool.value.execute(request) }.hop(to: eventLoop)
    }

    /// Closes idle connections and fails later requests with ``UpstreamError/shutdown``. In-flight requests finish.
    package func shutdown() async {
        for (_, pool) in pools {
            try? await pool.eventLoop.submit { pool.value.shutdown() }.get()
        }
    }
}

/// The connections of one event loop. Confined to that loop: no locks.
final class UpstreamConnectionPool {
    private let eventLoop: any EventLoop
    private let configuration: UpstreamConfiguration
    private let logger: Logger
    private var idle: [IdleConnection] = []
    private var isShutdown = false

    private struct IdleConnection {
        let channel: any Channel
        let handler: UpstreamConnectionHandler
        let closeTimer: Scheduled<Void>
    }

    init(eventLoop: any EventLoop, configuration: UpstreamConfiguration, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.logger = logger
    }

    func execute(_ request: UpstreamRequest) -> EventLoopFuture<UpstreamResponse> {
        eventLoop.preconditionInEventLoop()
        if isShutdown { return eventLoop.makeFailedFuture(UpstreamError.shutdown) }
        while let connection = idle.popLast() {
            connection.closeTimer.cancel()
            if connection.channel.isActive {
                let sent = send(request, on: connection.channel, handler: connection.handler)
                guard request.retryOnStaleConnection else { return sent }
                let handler = connection.handler
                return sent.assumeIsolated().flatMapError { error in
                    guard case .connectionLost = error as? UpstreamError, handler.closedBeforeAnswering,
                        !self.isShutdown
                    else { return self.eventLoop.makeFailedFuture(error) }
                    self.logger.debug("resending a read on a new connection: the pooled one closed before answering")
                    return self.sendOnNewConnection(request)
                }.nonisolated()
            }
        }
        return sendOnNewConnection(request)
    }

    private func sendOnNewConnection(_ request: UpstreamRequest) -> EventLoopFuture<UpstreamResponse> {
        connect().assumeIsolated().flatMap { channel in
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
                return self.send(request, on: channel, handler: handler)
            } catch {
                channel.close(promise: nil)
                return self.eventLoop.makeFailedFuture(UpstreamError.connectFailed("\(error)"))
            }
        }.nonisolated()
    }

    private func send(
        _ request: UpstreamRequest,
        on channel: any Channel,
        handler: UpstreamConnectionHandler
    ) -> EventLoopFuture<UpstreamResponse> {
        let promise = eventLoop.makePromise(of: UpstreamResponse.self)
        handler.send(request, promise: promise, timeout: configuration.responseTimeout)
        return promise.futureResult.assumeIsolated().always { result in
            if case .success(let response) = result, response.head.isKeepAlive, channel.isActive {
                self.release(channel, handler: handler)
            } else {
                channel.close(promise: nil)
            }
        }.nonisolated()
    }

    private func release(_ channel: any Channel, handler: UpstreamConnectionHandler) {
        guard !isShutdown, idle.count < configuration.maxIdleConnectionsPerLoop else {
            channel.close(promise: nil)
            return
        }
        let timer = eventLoop.assumeIsolated().scheduleTask(in: configuration.idleTimeout) {
            self.idle.removeAll { $0.channel === channel }
            channel.close(promise: nil)
        }
        idle.append(IdleConnection(channel: channel, handler: handler, closeTimer: timer))
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let maxResponseBytes = configuration.maxResponseBytes
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                    try channel.pipeline.syncOperations.addHandler(
                        UpstreamConnectionHandler(maxResponseBytes: maxResponseBytes)
                    )
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .flatMapErrorThrowing { error in
                throw UpstreamError.connectFailed("\(error)")
            }
    }

    func shutdown() {
        isShutdown = true
        for connection in idle {
            connection.closeTimer.cancel()
            connection.channel.close(promise: nil)
        }
        idle.removeAll()
    }
}

/// Runs one request at a time on one upstream connection and aggregates its response.
final class UpstreamConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private struct Pending {
        var promise: EventLoopPromise<UpstreamResponse>
        var timeout: Scheduled<Void>?
        var head: HTTPResponseHead?
        var body: ByteBuffer?
    }

    private let maxResponseBytes: Int
    private var context: ChannelHandlerContext?
    private var pending: Pending?
    /// The last request failed because the connection closed before any of its answer arrived.
    private(set) var closedBeforeAnswering = false

    init(maxResponseBytes: Int) {
        self.maxResponseBytes = maxResponseBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        fail(.connectionLost("handler removed"))
    }

    func send(_ request: UpstreamRequest, promise: EventLoopPromise<UpstreamResponse>, timeout: TimeAmount) {
        guard let context, pending == nil else {
            promise.fail(UpstreamError.connectionLost("connection not usable"))
            return
        }
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.fail(.responseTimeout)
            self.context?.close(promise: nil)
        }
        pending = Pending(promise: promise, timeout: timer)
        closedBeforeAnswering = false
        var head = request.head
        head.headers.replaceOrAdd(name: "content-length", value: String(request.body.readableBytes))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { error in
            if let pending = self.pending { self.closedBeforeAnswering = pending.head == nil && pending.body == nil }
            self.fail(.connectionLost("write failed: \(error)"))
            self.context?.close(promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard pending != nil else {
            // Bytes nobody asked for: the connection is out of step; drop it.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxResponseBytes {
                fail(.invalidResponse("response of \(length) bytes exceeds the limit"))
                context.close(promise: nil)
                return
            }
            pending!.head = head
        case .body(var chunk):
            if pending!.body == nil {
                pending!.body = chunk
            } else {
                pending!.body!.writeBuffer(&chunk)
            }
            if pending!.body!.readableBytes > maxResponseBytes {
                fail(.invalidResponse("response exceeds \(maxResponseBytes) bytes"))
                context.close(promise: nil)
            }
        case .end:
            let done = pending!
            pending = nil
            done.timeout?.cancel()
            guard let head = done.head else {
                done.promise.fail(UpstreamError.invalidResponse("response without a head"))
                context.close(promise: nil)
                return
            }
            done.promise.succeed(
                UpstreamResponse(head: head, body: done.body ?? context.channel.allocator.buffer(capacity: 0))
            )
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closedBeforeAnswering = pending != nil && pending?.head == nil && pending?.body == nil
        fail(.connectionLost("connection closed by the storage server before a complete response"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.invalidResponse("\(error)"))
        context.close(promise: nil)
    }

    private func fail(_ error: UpstreamError) {
        guard let done = pending else { return }
        pending = nil
        done.timeout?.cancel()
        done.promise.fail(error)
    }
}
