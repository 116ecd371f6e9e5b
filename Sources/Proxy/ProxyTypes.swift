import NIOCore
import NIOHTTP1
import Upstream

/// A complete client request as the data plane received it.
package struct ProxyRequest: Sendable {
    package var head: HTTPRequestHead
    package var body: ByteBuffer

    package init(head: HTTPRequestHead, body: ByteBuffer) {
        self.head = head
        self.body = body
    }
}

/// A complete response for the client. The server adds framing (`content-length`, `connection`) and, to
/// answers the proxy composed itself, a request id.
package struct ProxyResponse: Sendable {
    package var status: HTTPResponseStatus
    package var headers: HTTPHeaders
    package var body: ByteBuffer
    /// True for answers composed by the proxy (hits, its own errors): they need an `x-amzn-RequestId`, which
    /// the server generates per connection. Answers of the storage server carry its own.
    package var needsRequestID: Bool
    /// What the caches did (also sent as `x-dynamo-cache`); nil for answers the proxy refused outright.
    package var cacheStatus: CacheStatus?

    package init(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer, needsRequestID: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.needsRequestID = needsRequestID
        cacheStatus = nil
    }
}

/// What the proxy does with a request: answer at once (composed errors, later cache hits) or after the
/// storage server answers. Keeping the immediate case apart spares a future allocation on the fast path.
package enum ProxyOutcome {
    case immediate(ProxyResponse)
    case deferred(EventLoopFuture<ProxyResponse>)
}

/// The storage server as the proxy sees it; `UpstreamClient` in production, a fake in tests.
package protocol StorageServer: Sendable {
    /// Sends a request and completes on `eventLoop` with the full response or an `UpstreamError`.
    func execute(_ request: UpstreamRequest, on eventLoop: any EventLoop) -> EventLoopFuture<UpstreamResponse>
}

extension UpstreamClient: StorageServer {}

/// Headers that describe one hop of a connection, not the message (RFC 9110 §7.6.1). They are neither
/// forwarded to the storage server nor passed back to the client; each side frames its own connection. Two more
/// are dropped for the same reason: `content-length` (the proxy frames each side itself, and may change the body)
/// and `expect` (the proxy answers 100-continue itself and forwards a complete body).
enum HopByHopHeaders {
    static let names: [String] = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "expect", "content-length",
    ]

    /// Headers the proxy decides by (or signs): a `Connection` header naming them must not make them vanish
    /// between the decision and the storage server.
    static let kept: Set<String> = [
        "x-amz-target", "authorization", "x-amz-date", "x-amz-security-token", "host", "content-type",
        "x-amz-content-sha256",
    ]

    static func remove(from headers: inout HTTPHeaders) {
        // Also drop headers that the request's own `Connection` header names as hop-by-hop.
        let named = headers[canonicalForm: "connection"].map { $0.lowercased() }
        for name in names { headers.remove(name: name) }
        for name in named where name != "close" && name != "keep-alive" && !kept.contains(name) {
            headers.remove(name: String(name))
        }
    }
}
