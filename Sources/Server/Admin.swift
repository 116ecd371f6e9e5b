import Logging
import NIOCore
import NIOHTTP1

/// An answer of the admin listener.
package struct AdminResponse: Sendable {
    package var status: HTTPResponseStatus
    package var contentType: String
    package var body: String

    package init(status: HTTPResponseStatus = .ok, contentType: String = "text/plain; charset=utf-8", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// The admin endpoints by method and path. The executable registers them; the listener only dispatches.
package struct AdminRouter: Sendable {
    package typealias Route = @Sendable (_ query: Substring) -> AdminResponse

    private var routes: [String: Route] = [:]

    package init() {
        add("GET", "/healthz") { _ in AdminResponse(body: "ok\n") }
    }

    /// Registers (or replaces) the handler for `method path`.
    package mutating func add(_ method: String, _ path: String, _ route: @escaping Route) {
        routes["\(method) \(path)"] = route
    }

    func respond(to head: HTTPRequestHead) -> AdminResponse {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let query = path.count > 1 ? path[1] : ""
        if let route = routes["\(head.method.rawValue) \(path[0])"] {
            return route(query)
        }
        let known = routes.keys.contains { $0.hasSuffix(" \(path[0])") }
        return known
            ? AdminResponse(status: .methodNotAllowed, body: "method not allowed\n")
            : AdminResponse(status: .notFound, body: "not found\n")
    }
}

/// Serves the admin router on one connection. Admin traffic is rare; clarity over speed here.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: AdminRouter
    private var head: HTTPRequestHead?

    init(router: AdminRouter) {
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let request = head else { return }
            head = nil
            let response = router.respond(to: request)
            var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
            body.writeString(response.body)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: response.contentType)
            headers.add(name: "content-length", value: String(body.readableBytes))
            headers.add(name: "cache-control", value: "no-store")
            if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
            let responseHead = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let keepAlive = request.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}

extension HTTPListener {
    /// The admin listener (health, statistics, flush); keep it on loopback or a private interface.
    package static func admin(
        host: String,
        port: Int,
        router: AdminRouter,
        group: any EventLoopGroup,
        tls: ServerTLS? = nil,
        logger: Logger
    ) -> HTTPListener {
        // Scrapers, dashboards and operators: the data plane's timeouts, and a few connections.
        HTTPListener(
            name: "admin", host: host, port: port, group: group, shutdownGrace: .seconds(1), tls: tls,
            timeouts: ConnectionTimeouts(), maxConnections: 256, logger: logger
        ) { channel, timer in
            try HTTPListener.addStandardHTTP(to: channel, timer: timer)
            try channel.pipeline.syncOperations.addHandler(AdminHandler(router: router))
        }
    }
}
