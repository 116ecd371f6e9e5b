import Logging
import NIOCore
import NIOHTTP1
import Proxy

/// One client connection of the data plane: aggregates each request, hands it to the proxy, writes the answer,
/// and answers malformed HTTP with a DynamoDB-style error before closing (the byte stream can no longer be
/// trusted) rather than with a bare 400 or a silent close.
///
/// HTTPServerPipelineHandler sits before it, so requests arrive one at a time even when a client pipelines;
/// the next request is not read until this one's response has ended. Protocol errors are handled here rather
/// than in a handler of their own so that every response does not pass through one more outbound hop.
final class DataPlaneHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

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
    }

    private let proxy: DynamoProxy
    private let maxRequestBytes: Int
    private var state = State.idle
    private var requestIDs = RequestIDGenerator()
    /// When the current request's head arrived (monotonic nanoseconds), for the latency figures.
    private var started: UInt64 = 0

    init(proxy: DynamoProxy, maxRequestBytes: Int) {
        self.proxy = proxy
        self.maxRequestBytes = maxRequestBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
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
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                    promise: nil
                )
            }
            state = .receiving(head, nil)
        case (.body(var chunk), .receiving(let head, let body)):
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
        case (.end, .receiving(let head, let body)):
            state = .waiting
            let request = ProxyRequest(head: head, body: body ?? context.channel.allocator.buffer(capacity: 0))
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
        case (.body, .skipping):
            break
        case (.end, .skipping):
            state = .idle
        case (.body, .discarding):
            break
        case (.end, .discarding):
            // Closing only now lets the client finish sending and read the answer instead of a reset.
            context.close(promise: nil)
        default:
            // The HTTP decoder guarantees head, body*, end; anything else is a bug worth closing on.
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.close(promise: nil)
            return
        }
        switch state {
        case .idle, .receiving:
            if case .idle = state { started = NIODeadline.now().uptimeNanoseconds }
            let response = proxy.malformedHTTP("\(error)")
            // Answered as to a request that asked to close: the connection closes once the answer is out.
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
            head.headers.add(name: "connection", value: "close")
            respond(context: context, to: head, with: response)
        case .waiting, .discarding, .skipping:
            context.close(promise: nil)
        }
    }

    private func refuseTooLarge(context: ChannelHandlerContext, head: HTTPRequestHead, size: Int) {
        state = .discarding
        var closing = head
        closing.headers.replaceOrAdd(name: "connection", value: "close")
        respond(context: context, to: closing, with: proxy.requestTooLarge(size: size))
    }

    private func respond(context: ChannelHandlerContext, to request: HTTPRequestHead, with response: ProxyResponse) {
        proxy.didAnswer(request, with: response, nanoseconds: NIODeadline.now().uptimeNanoseconds &- started)
        let keepAlive = request.isKeepAlive
        var head = HTTPResponseHead(version: request.version, status: response.status, headers: response.headers)
        if response.needsRequestID {
            head.headers.add(name: "x-amzn-RequestId", value: requestIDs.make())
        }
        // Never present: hop-by-hop headers are stripped from upstream answers, composed ones have none.
        head.headers.add(name: "content-length", value: String(response.body.readableBytes))
        if !keepAlive {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        } else if request.version.minor == 0 {
            head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        let discarding: Bool
        switch state {
        case .discarding:
            discarding = true
        case .skipping:
            discarding = false  // the request's end returns to idle
        default:
            discarding = false
            state = .idle
        }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        if keepAlive || discarding {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
