import Logging
import NIOCore
import NIOHTTP1
import Proxy

/// One client connection of the data plane: aggregates each request, hands it to the proxy, writes the answer,
/// and answers malformed HTTP with a DynamoDB-style error before closing (the byte stream can no longer be
/// trusted) rather than with a bare 400 or a silent close.
///
/// It sits right behind NIO's HTTP request decoder and is the connection's whole HTTP/1 server side: it encodes
/// answers itself (``ResponseWriter``), writes each as one buffer, and flushes once per read batch, so a client
/// that pipelines gets its answers in one write. Requests are answered one at a time and in order: the parts of
/// one that arrives while another is being answered wait in `pending`, and reading stops until they are served,
/// so a pipelining client cannot make the queue grow. Protocol errors, quiescing (graceful shutdown) and the
/// connection's timeouts are handled here too, rather than in handlers of their own that every request would
/// pass through.
final class DataPlaneHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    /// Nothing is written from behind this handler; it is outbound only to hold back `read`.
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer?)
        /// The request was refused before its body was read (too large); the rest of it is dropped, then the
        /// connection is closed.
        case discarding
        /// The request was refused from its head (client authentication); the rest of it is dropped unread and
        /// the connection stays open for the next one.
        case skipping
        case waiting
        /// The connection is closing; nothing more is read or answered.
        case closed
    }

    /// What arrived while an answer was being made, in order.
    private enum Pending {
        case part(HTTPServerRequestPart)
        case error(HTTPParserError)
    }

    private let proxy: DynamoProxy
    private let maxRequestBytes: Int
    private let timer: ConnectionTimer?
    private var state = State.idle
    private var writer = ResponseWriter()
    private var pending = CircularBuffer<Pending>(initialCapacity: 4)
    /// Serving `pending` now: an answer made while serving it must not start serving it again.
    private var serving = false
    /// A `read` held back while requests wait in `pending`.
    private var readHeld = false
    /// Between a read and the end of its batch: answers written meanwhile are flushed together at the end.
    private var inReadBatch = false
    private var flushPending = false
    /// Graceful shutdown asked: the connection closes after the answer being made.
    private var quiescing = false
    /// When the current request's head arrived (monotonic nanoseconds), for the latency figures.
    private var started: UInt64 = 0

    init(proxy: DynamoProxy, maxRequestBytes: Int, timer: ConnectionTimer?) {
        self.proxy = proxy
        self.maxRequestBytes = maxRequestBytes
        self.timer = timer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        timer?.context = context
        timer?.start()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer?.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        enterClosed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadBatch = true
        let part = unwrapInboundIn(data)
        if pending.isEmpty, !serving, !isAnswering {
            receive(part, context: context)
        } else {
            pending.append(.part(part))
            serve(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if isAnswering, !pending.isEmpty {
            readHeld = true
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            close(context: context)
            return
        }
        if pending.isEmpty, !serving, !isAnswering {
            malformed(error, context: context)
        } else {
            pending.append(.error(error))
            serve(context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if case .idle = state, pending.isEmpty {
            close(context: context)
        } else {
            quiescing = true
        }
    }

    /// Waiting for the proxy's answer to the current request.
    private var isAnswering: Bool {
        if case .waiting = state { return true }
        return false
    }

    /// Serves what waited in `pending` until the queue is empty or a request waits for its answer.
    private func serve(context: ChannelHandlerContext) {
        guard !serving else { return }
        serving = true
        defer { serving = false }
        while !isAnswering, let next = pending.popFirst() {
            if case .closed = state { break }  // closing emptied the queue
            switch next {
            case .part(let part): receive(part, context: context)
            case .error(let error): malformed(error, context: context)
            }
        }
        if readHeld, pending.isEmpty {
            readHeld = false
            context.read()
        }
    }

    // Switches on the part first and binds the state's payload only where it is used: a switch over the pair
    // would copy the state (and retain its head) on every part.
    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            switch state {
            case .idle: receiveHead(head, context: context)
            case .closed: break
            default: close(context: context)  // the decoder guarantees head, body*, end: a bug worth closing on
            }
        case .body(var chunk):
            switch state {
            case .receiving(let head, let body):
                timer?.bodyArrived()
                // The first chunk is kept as it came (no copy); only a request in several chunks is gathered.
                guard var body else {
                    state = .receiving(head, chunk)
                    return
                }
                state = .waiting  // drop our reference so `body` stays uniquely owned while appending
                guard body.readableBytes + chunk.readableBytes <= maxRequestBytes else {
                    refuseTooLarge(context: context, head: head, size: body.readableBytes + chunk.readableBytes)
                    return
                }
                body.writeBuffer(&chunk)
                state = .receiving(head, body)
            case .skipping, .discarding:
                timer?.bodyArrived()
            case .closed:
                break
            case .idle, .waiting:
                close(context: context)
            }
        case .end:
            switch state {
            case .receiving(let head, let body):
                timer?.requestRead()
                state = .waiting
                answer(
                    ProxyRequest(head: head, body: body ?? context.channel.allocator.buffer(capacity: 0)),
                    context: context)
            case .skipping:
                timer?.requestRead()
                state = .idle
                if quiescing { close(context: context) }
            case .discarding:
                // Closing only now lets the client finish sending and read the answer instead of a reset.
                close(context: context)
            case .closed:
                break
            case .idle, .waiting:
                close(context: context)
            }
        }
    }

    private func receiveHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        timer?.headArrived()
        started = NIODeadline.now().uptimeNanoseconds
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxRequestBytes {
            refuseTooLarge(context: context, head: head, size: length)
            return
        }
        if let refusal = proxy.earlyRefusal(head) {
            // Before any body is read or 100-continue promised; the rest of the request is dropped unread.
            state = .skipping
            respond(context: context, to: head, with: refusal)
            return
        }
        if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
            let interim = ResponseWriter.continueHead(version: head.version, allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(interim), promise: nil)
        }
        state = .receiving(head, nil)
    }

    private func answer(_ request: ProxyRequest, context: ChannelHandlerContext) {
        let head = request.head
        switch proxy.handle(request, on: context.eventLoop) {
        case .immediate(let response):
            respond(context: context, to: head, with: response)
        case .deferred(let future):
            future.assumeIsolated().whenComplete { result in
                switch result {
                case .success(let response):
                    self.respond(context: context, to: head, with: response)
                case .failure(let error):
                    self.proxy.recover(from: error, request: request, on: context.eventLoop)
                        .assumeIsolated().whenSuccess { self.respond(context: context, to: head, with: $0) }
                }
            }
        }
    }

    private func malformed(_ error: HTTPParserError, context: ChannelHandlerContext) {
        switch state {
        case .idle, .receiving:
            if case .idle = state { started = NIODeadline.now().uptimeNanoseconds }
            let response = proxy.malformedHTTP("\(error)")
            // Answered as to a request that asked to close: the connection closes once the answer is out.
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
            head.headers.add(name: "connection", value: "close")
            respond(context: context, to: head, with: response)
        case .waiting, .discarding, .skipping, .closed:
            close(context: context)
        }
    }

    private func refuseTooLarge(context: ChannelHandlerContext, head: HTTPRequestHead, size: Int) {
        state = .discarding
        var closing = head
        closing.headers.replaceOrAdd(name: "connection", value: "close")
        respond(context: context, to: closing, with: proxy.requestTooLarge(size: size))
    }

    private func close(context: ChannelHandlerContext) {
        if case .closed = state { return }
        enterClosed()
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.close(promise: nil)
    }

    /// Nothing more is read or answered: what waited is dropped.
    private func enterClosed() {
        state = .closed
        pending.removeAll()
    }

    private func respond(context: ChannelHandlerContext, to request: HTTPRequestHead, with response: ProxyResponse) {
        if case .closed = state { return }
        proxy.didAnswer(request, with: response, nanoseconds: NIODeadline.now().uptimeNanoseconds &- started)
        let discarding: Bool
        let skipping: Bool
        switch state {
        case .discarding:
            (discarding, skipping) = (true, false)
        case .skipping:
            (discarding, skipping) = (false, true)  // the request's end returns to idle
        default:
            (discarding, skipping) = (false, false)
            state = .idle
        }
        // Quiescing: the answer being made is the last one unless the rest of its request is still to come.
        let closes = !request.isKeepAlive || (quiescing && !skipping)
        let (head, body) = writer.encode(
            response, to: request, keepAlive: !closes, allocator: context.channel.allocator)
        timer?.answerWasSent(timer?.request ?? 0)
        if closes && !discarding {
            enterClosed()
            flushPending = false
            let written = context.eventLoop.makePromise(of: Void.self)
            if let body {
                context.write(wrapOutboundOut(head), promise: nil)
                context.writeAndFlush(wrapOutboundOut(body), promise: written)
            } else {
                context.writeAndFlush(wrapOutboundOut(head), promise: written)
            }
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.write(wrapOutboundOut(head), promise: nil)
        if let body { context.write(wrapOutboundOut(body), promise: nil) }
        if inReadBatch {
            flushPending = true
        } else {
            context.flush()
        }
        serve(context: context)
    }
}
