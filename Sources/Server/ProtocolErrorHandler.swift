import NIOCore
import NIOHTTP1
import Proxy

/// Answers malformed HTTP with a DynamoDB-style JSON error instead of a bare 400 or a silent close, then closes
/// the connection (the byte stream can no longer be trusted). Modelled on NIO's HTTPServerProtocolErrorHandler.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let proxy: DynamoProxy
    private var responseInProgress = false

    init(proxy: DynamoProxy) {
        self.proxy = proxy
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !responseInProgress {
            let response = proxy.malformedHTTP("\(error)")
            var headers = response.headers
            headers.replaceOrAdd(name: "connection", value: "close")
            headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
            let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status != .continue:
            responseInProgress = true
        case .end:
            responseInProgress = false
        default:
            break
        }
        context.write(data, promise: promise)
    }
}
