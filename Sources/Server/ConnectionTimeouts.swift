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
/// request's first bytes, the one behind the pipelining handler sees its parts and the end of its answer. A
/// request is done when both its end was read and its answer written, in either order (the proxy answers
/// some requests from their head alone, before their body). One scheduled task at a time: arming only moves a
/// deadline, and the task re-schedules itself when it fires early, so a request costs no timer churn.
/// Confined to the connection's event loop.
package final class ConnectionTimer {
    private enum Phase {
        /// Between requests (idle timeout).
        case waiting
        /// Some bytes of a head arrived (header timeout).
        case head
        /// A request is being read or answered.
        case request
    }

    private let timeouts: ConnectionTimeouts
    private let timedOut: @Sendable (ConnectionTimeoutKind) -> Void
    private var phase = Phase.waiting
    private var requestEnded = false
    private var answerSent = false
    /// Counts requests: an answer's write may complete after the next pipelined request's head arrived.
    private(set) var request = 0
    /// When the connection is closed unless something moves it; nil: no timeout runs (the proxy is answering).
    private var deadline: (at: NIODeadline, kind: ConnectionTimeoutKind)?
    private var scheduled: (task: Scheduled<Void>, at: NIODeadline)?
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
        request += 1
        phase = .request
        requestEnded = false
        answerSent = false
        arm(.body, after: timeouts.body)
    }

    func bodyArrived() {
        if phase == .request && !requestEnded { arm(.body, after: timeouts.body) }
    }

    func requestRead() {
        requestEnded = true
        if answerSent { finish() } else { deadline = nil }  // the proxy answers, within its own bounds
    }

    /// The answer of request number `number` has been written.
    func answerWasSent(_ number: Int) {
        guard number == request, phase == .request else { return }
        answerSent = true
        // Answered before its body was read (a refusal): the body still has its timeout.
        if requestEnded { finish() } else { arm(.body, after: timeouts.body) }
    }

    func cancel() {
        deadline = nil
        scheduled?.task.cancel()
        scheduled = nil
    }

    private func finish() {
        phase = .waiting
        arm(.idle, after: timeouts.idle)
    }

    private func arm(_ kind: ConnectionTimeoutKind, after delay: TimeAmount) {
        let at = NIODeadline.now() + delay
        deadline = (at, kind)
        // A later deadline waits for the task already scheduled; an earlier one needs its own.
        if let scheduled {
            guard at < scheduled.at else { return }
            scheduled.task.cancel()
        }
        schedule(at)
    }

    private func schedule(_ at: NIODeadline) {
        guard let context else { return }
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [self] in
            scheduled = nil
            guard let deadline else { return }
            if NIODeadline.now() < deadline.at {
                schedule(deadline.at)
                return
            }
            // A client still reading a large answer (more than the outbound buffer holds) is not idle.
            if deadline.kind == .idle, let channel = self.context?.channel, !channel.isWritable {
                arm(.idle, after: timeouts.idle)
                return
            }
            timedOut(deadline.kind)
            self.context?.close(promise: nil)
        }
        scheduled = (task, at)
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
        // Before passing it on: the pipelining handler may hand over the next request's head within the write.
        if case .end = unwrapOutboundIn(data) { timer.answerWasSent(timer.request) }
        context.write(data, promise: promise)
    }
}
