import AWSAuth
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

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

/// Re-signing of every request with the proxy's own credentials (`--upstream-auth sign`): the client's
/// `Authorization`, `X-Amz-Date`, `X-Amz-Security-Token` and `X-Amz-Content-Sha256` are dropped, `Host` becomes
/// the storage server's, and the request as it is sent (after any rewrite of its body) is signed.
package struct UpstreamSigning: Sendable {
    package let signer: RequestSigner
    /// Wall-clock Unix seconds, the signature's date.
    package let clock: @Sendable () -> Int

    package init(signer: RequestSigner, clock: @escaping @Sendable () -> Int) {
        self.signer = signer
        self.clock = clock
    }

    /// The client's own authentication, which must not reach the storage server next to ours.
    static let clientHeaders = ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]

    func sign(_ request: inout UpstreamRequest, authority: String) throws(CredentialError) {
        for name in Self.clientHeaders { request.head.headers.remove(name: name) }
        request.head.headers.replaceOrAdd(name: "host", value: authority)
        var signed = [(name: "host", value: authority)]
        for name in ["x-amz-target", "content-type"] {
            let values = request.head.headers[name]
            if !values.isEmpty { signed.append((name: name, value: values.joined(separator: ","))) }
        }
        let uri = request.head.uri
        let mark = uri.firstIndex(of: "?")
        let path = mark.map { uri[..<$0] } ?? Substring(uri)
        let query = mark.map { uri[uri.index(after: $0)...] } ?? ""
        let payloadHash = request.body.withUnsafeReadableBytes { SigV4.payloadHash($0) }
        let added = try signer.sign(
            method: request.head.method.rawValue, path: path, query: query, headers: signed,
            payloadHash: payloadHash, unixSeconds: clock())
        for header in added { request.head.headers.add(name: header.name, value: header.value) }
    }
}

/// The storage-server client: pooled keep-alive HTTP/1.1 connections (over TLS for `https://`), one pool per
/// event loop, and, when configured, SigV4 re-signing of every request with the proxy's own credentials.
///
/// A request issued on the event loop of the client connection that carries it uses that loop's pool, so the
/// whole forward path runs on one thread without a hop or a lock. Servers that close each connection after one
/// response (moto_server) simply get a new connection per request.
package final class UpstreamClient: Sendable {
    package let configuration: UpstreamConfiguration
    private let signing: UpstreamSigning?
    private let group: any EventLoopGroup
    /// Immutable after init: a pool per event loop of `group`, each touched only on its own loop.
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamConnectionPool>]
    private let logger: Logger

    package init(
        configuration: UpstreamConfiguration,
        group: any EventLoopGroup,
        logger: Logger,
        signing: UpstreamSigning? = nil
    ) {
        self.configuration = configuration
        self.signing = signing
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
        var request = request
        if let signing {
            do {
                try signing.sign(&request, authority: configuration.authority)
            } catch {
                return eventLoop.makeFailedFuture(UpstreamError.noCredentials(error.message))
            }
        }
        if let pool = pools[ObjectIdentifier(eventLoop)], eventLoop.inEventLoop {
            return pool.value.execute(request)
        }
        // A caller outside our group (tests, tools): run on one of ours, answer on the caller's loop.
        let loop = group.next()
        let pool = pools[ObjectIdentifier(loop)]!
        let signed = request
        return loop.flatSubmit { pool.value.execute(signed) }.hop(to: eventLoop)
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
                return sent.assumeIsolated().flatMapError { error in
                    guard case .connectionLost(_, beforeAnswer: true) = error as? UpstreamError, !self.isShutdown
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

    /// A new connection, its TLS handshake done when the server is `https://`: a certificate refused here fails
    /// the request before any of it was sent.
    private func connect() -> EventLoopFuture<any Channel> {
        let maxResponseBytes = configuration.maxResponseBytes
        let tls = configuration.tls
        let host = configuration.host
        let port = configuration.port
        let connectTimeout = configuration.connectTimeout
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
                        try channel.pipeline.syncOperations.addHandler(
                            TLSHandshakeWatcher(promise: channel.eventLoop.makePromise()))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                    try channel.pipeline.syncOperations.addHandler(
                        UpstreamConnectionHandler(maxResponseBytes: maxResponseBytes)
                    )
                }
            }
            .connect(host: host, port: port)
            .flatMapErrorThrowing { error in
                throw UpstreamError.connectFailed(ConnectErrorText.describe(error, host: host, port: port))
            }
        guard tls != nil else { return connected }
        let logger = self.logger
        return connected.flatMap { channel in
            let handshake: EventLoopFuture<Void>
            do {
                handshake = try channel.pipeline.syncOperations.handler(type: TLSHandshakeWatcher.self).promise
                    .futureResult
            } catch {
                return channel.eventLoop.makeFailedFuture(UpstreamError.tlsRefused("\(error)"))
            }
            // The handshake is part of connecting, within the same limit.
            let timer = channel.eventLoop.scheduleTask(in: connectTimeout) {
                channel.close(promise: nil)
            }
            return handshake.map { _ -> any Channel in
                timer.cancel()
                return channel
            }.flatMapError { error in
                timer.cancel()
                channel.close(promise: nil)
                let reason = ConnectErrorText.describeTLS(error, host: host, port: port)
                TLSFailureLog.report(reason, logger: logger)
                return channel.eventLoop.makeFailedFuture(UpstreamError.tlsRefused(reason))
            }
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
    init(maxResponseBytes: Int) {
        self.maxResponseBytes = maxResponseBytes
    }

    /// A request is in flight and not a byte of its answer has arrived.
    private var awaitsFirstByte: Bool { pending.map { $0.head == nil && $0.body == nil } ?? false }

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
        var head = request.head
        head.headers.replaceOrAdd(name: "content-length", value: String(request.body.readableBytes))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { error in
            self.fail(.connectionLost("write failed: \(error)", beforeAnswer: self.awaitsFirstByte))
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
        fail(
            .connectionLost(
                "connection closed by the storage server before a complete response", beforeAnswer: awaitsFirstByte))
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

/// Completes `promise` when the TLS handshake is done, or fails it with the reason it was not.
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let promise: EventLoopPromise<Void>
    private var done = false

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    private func complete(_ error: (any Error)?) {
        guard !done else { return }
        done = true
        if let error { promise.fail(error) } else { promise.succeed() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            complete(nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        complete(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete(ChannelError.eof)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        complete(ChannelError.eof)
    }
}

/// Connection failures in one plain sentence with the address; the Swift error goes to the debug log only.
enum ConnectErrorText {
    static func describe(_ error: any Error, host: String, port: Int) -> String {
        let address = UpstreamEndpoint(isTLS: false, host: host, port: port).hostAndPort
        let text = "\(error)"
        if case ChannelError.connectTimeout(let limit) = error {
            return "no connection to \(address) within \(Self.duration(limit))"
        }
        if text.contains("Connection refused") || text.contains("errno: 111") {
            return "connection refused by \(address)"
        }
        if text.contains("dnsAError") || text.contains("dnsAAAAError") || text.contains("unknown host")
            || text.contains("Name or service not known") || text.contains("SocketAddressError")
        {
            return "cannot resolve the host name \(host)"
        }
        if text.contains("No route to host") || text.contains("Network is unreachable") {
            return "no route to \(address)"
        }
        return "cannot connect to \(address): \(text)"
    }

    static func describeTLS(_ error: any Error, host: String, port: Int) -> String {
        let address = UpstreamEndpoint(isTLS: true, host: host, port: port).hostAndPort
        let text = "\(error)"
        if text.contains("failedToValidateHostname") || text.contains("Couldn't find") {
            return "the TLS certificate of \(address) does not name \(host)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the TLS certificate of \(address) is not trusted (not signed by a trusted CA, expired, "
                + "or not yet valid)"
        }
        if case ChannelError.eof = error {
            return "\(address) closed the connection during the TLS handshake (is it a TLS server?)"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") {
            return "\(address) does not speak TLS"
        }
        return "the TLS handshake with \(address) failed: \(text)"
    }

    private static func duration(_ amount: TimeAmount) -> String {
        let ms = amount.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}

extension UpstreamEndpoint {
    /// `host:port`, with the port always named.
    var hostAndPort: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// One log line per distinct TLS failure and minute, however many requests hit it: the reason is worth saying
/// once, not per request.
enum TLSFailureLog {
    private static let last = NIOLockedValueBox<(reason: String, at: NIODeadline)?>(nil)

    static func report(_ reason: String, logger: Logger) {
        let now = NIODeadline.now()
        let due = last.withLockedValue { last -> Bool in
            if let previous = last, previous.reason == reason, now - previous.at < .seconds(60) { return false }
            last = (reason, now)
            return true
        }
        if due { logger.error("storage server TLS refused", metadata: ["reason": "\(reason)"]) }
    }
}
