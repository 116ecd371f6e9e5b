import NIOCore
import NIOHTTP1

/// How long a client connection may take over each part of a request, so that no client can hold a connection
/// (and its descriptor and buffers) without using it: a half-sent header (slowloris), a stalled body, or an idle
/// keep-alive connection. Closing is all a timeout does: a request that was not read whole has nobody to answer.
package struct ConnectionTimeouts: Sendable, Equatable {
    /// From the first byte of a request to the end of its head (nginx's `client_header_timeout`).
    package var header: TimeAmount
    /// Between two reads of a request's body.
    package var body: TimeAmount
    /// Between the end of an answer (or the connection's start) and the next request's first byte.
    package var idle: TimeAmount

    package init(header: TimeAmount = .seconds(10), body: TimeAmount = .seconds(10), idle: TimeAmount = .seconds(60)) {
        self.header = header
        self.body = body
        self.idle = idle
    }
}

/// Which timeout closed a connection (the `kind` label of the counter).
package enum ConnectionTimeoutKind: Int, CaseIterable, Sendable {
    case header, body, idle

    package var name: String {
        switch self {
        case .header: "header"
        case .body: "body"
        case .idle: "idle"
        }
    }
}

/// The one timer of a connection, shared by its two handlers: the watcher in front of the HTTP decoder sees a
/// request's first bytes, the one behind the pipelining handler sees its parts and the end of its answer.
/// Confined to the connection's event loop.
final class ConnectionTimer {
    private enum Phase {
        /// Between requests (idle timeout).
        case waiting
        /// Some bytes of a head arrived (header timeout).
        case head
        /// Reading the body (body timeout, restarted by each read).
        case body
        /// The request was read; the proxy answers it, within its own bounds.
        case answering
    }

    private let timeouts: ConnectionTimeouts
    private let timedOut: @Sendable (ConnectionTimeoutKind) -> Void
    private var phase = Phase.waiting
    private var scheduled: Scheduled<Void>?
    /// The later handler's context: closing from it closes the connection.
    var context: ChannelHandlerContext?

    init(timeouts: ConnectionTimeouts, timedOut: @escaping @Sendable (ConnectionTimeoutKind) -> Void) {
        self.timeouts = timeouts
        self.timedOut = timedOut
    }

    func start() { arm(.idle, after: timeouts.idle) }

    func bytesArrived() {
        guard phase == .waiting else { return }
        phase = .head
        arm(.header, after: timeouts.header)
    }

    func headArrived() {
        phase = .body
        arm(.body, after: timeouts.body)
    }

    func bodyArrived() {
        if phase == .body { arm(.body, after: timeouts.body) }
    }

    func requestRead() {
        phase = .answering
        cancel()
    }

    func answered() {
        phase = .waiting
        arm(.idle, after: timeouts.idle)
    }

    func cancel() {
        scheduled?.cancel()
        scheduled = nil
    }

    private func arm(_ kind: ConnectionTimeoutKind, after delay: TimeAmount) {
        cancel()
        guard let context else { return }
        scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            scheduled = nil
            timedOut(kind)
            self.context?.close(promise: nil)
        }
    }
}

/// In front of the HTTP decoder: tells the timer when a request's first bytes arrive.
final class RequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timer: ConnectionTimer

    init(timer: ConnectionTimer) {
        self.timer = timer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timer.bytesArrived()
        context.fireChannelRead(data)
    }
}

/// Behind the pipelining handler (which passes on one request at a time): moves the timer through a request and
/// its answer.
final class RequestTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timer: ConnectionTimer

    init(timer: ConnectionTimer) {
        self.timer = timer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        timer.context = context
        timer.start()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer.cancel()
        timer.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: timer.headArrived()
        case .body: timer.bodyArrived()
        case .end: timer.requestRead()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { timer.answered() }
        context.write(data, promise: promise)
    }
}
