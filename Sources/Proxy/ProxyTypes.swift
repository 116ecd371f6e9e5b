import DynamoWire
import NIOCore
import NIOHTTP1

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

/// The storage server as the proxy sees it. The proxy owns this vocabulary; the executable adapts the
/// Upstream client to it, and tests script it.
package protocol StorageServer: Sendable {
    /// Sends a request and completes on `eventLoop` with the full response or a ``StorageError``.
    func execute(_ request: StorageRequest, on eventLoop: any EventLoop) -> EventLoopFuture<StorageResponse>
}

/// A request for the storage server.
package struct StorageRequest: Sendable {
    package var head: HTTPRequestHead
    package var body: ByteBuffer
    /// The request has no side effects, so it may be sent once more on a new connection when a reused
    /// keep-alive connection closes before any byte of the answer. A request with side effects never is.
    package var retryOnStaleConnection: Bool

    package init(head: HTTPRequestHead, body: ByteBuffer, retryOnStaleConnection: Bool = false) {
        self.head = head
        self.body = body
        self.retryOnStaleConnection = retryOnStaleConnection
    }
}

/// The storage server's complete answer.
package struct StorageResponse: Sendable {
    package var head: HTTPResponseHead
    package var body: ByteBuffer

    package init(head: HTTPResponseHead, body: ByteBuffer) {
        self.head = head
        self.body = body
    }

    /// Whether the body is the one the server checksummed: a corrupt answer must neither be kept nor passed on
    /// as if it were sound. A compressed body is not judged (whether the checksum covers it or what it
    /// decompresses to is the SDK's business); the proxy does not read such bodies either.
    var isIntact: Bool {
        if let encoding = head.headers.first(name: "content-encoding"), encoding.lowercased() != "identity" {
            return true
        }
        return CRC32.matches(header: head.headers.first(name: "x-amz-crc32"), body: body)
    }
}

/// Why the storage server gave no answer.
package struct StorageError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure (also the metrics label).
    package var kind: UpstreamErrorKind
    /// Why it could not be reached, for the client's error message (`unreachable`, `tlsRefused`); nil when the
    /// client is told no more than the kind.
    package var reason: String?
    /// The whole account, for logs (and, for a lost or invalid answer, the client's message).
    package var description: String

    package init(_ kind: UpstreamErrorKind, reason: String? = nil, description: String) {
        self.kind = kind
        self.reason = reason
        self.description = description
    }

    /// Whether the request may have reached the server and been acted on: then a write's outcome is unknown.
    package var requestMayHaveReachedServer: Bool {
        switch kind {
        case .unreachable, .tlsRefused, .noCredentials, .overloaded: false
        case .timeout, .connectionLost, .invalidResponse: true
        }
    }
}

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
