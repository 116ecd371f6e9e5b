// Design note: the proxy's coherence rules, in one place.
//
// Guarantee: after a write through this proxy is acknowledged to its client, no read through this proxy returns
// older data for what it wrote. How:
// - Writes go to the storage server first; the cache changes only after its answer (write-through). Nothing is
//   acknowledged that the storage server did not acknowledge: the client always gets the server's own answer.
// - Before a keyed write is sent, its key's version is bumped (CacheStore.beginWrite), so a fill that began
//   earlier can no longer land; when it is acknowledged the entry becomes the written item (PutItem, UpdateItem
//   with ALL_NEW, DeleteItem -> "does not exist") and the version is bumped again so a fill that began during
//   the write cannot land either. Two writes of one key in flight at once leave the key empty.
// - An outcome the proxy cannot be sure of (timeout, dropped connection, 5xx, an error code it does not know
//   to be harmless) evicts every key the write touched; ConditionalCheckFailed evicts (our copy may be stale);
//   an error that guarantees nothing was written leaves the cache as it was.
// - Writes the proxy cannot map to keys (PartiQL, table operations, an unknown table schema) drop every entry
//   of the tables they name, or everything when it cannot tell which. A drop is O(1): it ends the table's
//   incarnation, which every entry records (TableRegistry.swift).
// - What each write does is planned as data (WritePlans.swift) and carried out in one place (CacheEffects.swift).
// - Fills are leased (see CacheStore): a miss takes a ticket before it asks the storage server and stores the
//   answer only if no write, invalidation or eviction of the key happened since. Concurrent misses of one key
//   in one namespace share one upstream request (SingleFlight).
// Every decision is made on the event loop of the client connection; the stores are striped and locked per shard.

import AWSAuth
import CacheCore
import DynamoWire
import Logging
import NIOCore
import NIOHTTP1

/// The proxy's decisions for one request: what is answered from memory, what is forwarded, what a write
/// refreshes or evicts, and how failures of the storage server are reported. It performs no I/O itself and talks
/// to the storage server only through ``StorageServer``.
package final class DynamoProxy: Sendable {
    let storage: any StorageServer
    let logger: Logger
    let configuration: ProxyConfiguration
    let items: CacheStore<ItemKey, ItemEntry>
    let tables: TableRegistry
    /// Writes acknowledged through this node whose stream records have not been seen yet.
    let ownWrites = OwnWriteLedger()
    /// Requests waiting on the storage server now (see `ProxyConfiguration.upstreamMaxInflight`).
    let inflight = InflightCounter()
    /// Keys changed elsewhere a moment ago, whose fills are not stored yet.
    let recentChanges = RecentChanges()
    /// The namespace of the stream follower's own requests (`AKID/region`), when entries are kept per caller:
    /// only entries of that namespace come from the database whose stream it reads.
    let streamNamespace: @Sendable () -> Namespace?
    let itemFlights = SingleFlight<ItemFlightKey, ItemFill>()
    let queries: CacheStore<QueryKey, QueryEntry>
    let queryFlights = SingleFlight<QueryFlightKey, QueryEntry?>()
    /// Monotonic nanoseconds; the cache core never reads a clock itself.
    let clock: @Sendable () -> UInt64
    let allocator = ByteBufferAllocator()
    /// The counters behind `/stats` and `/metrics`.
    package let statistics = ProxyStatistics()
    /// Verifies clients' signatures and access (`--client-auth sigv4`); nil when clients are not authenticated.
    package let authenticator: ClientAuthenticator?

    package init(
        storage: any StorageServer,
        configuration: ProxyConfiguration = ProxyConfiguration(),
        logger: Logger,
        authenticator: ClientAuthenticator? = nil,
        clock: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds },
        newStreamTable: @escaping @Sendable (String) -> Void = { _ in },
        streamNamespace: @escaping @Sendable () -> Namespace? = { nil }
    ) {
        self.streamNamespace = streamNamespace
        tables = TableRegistry(streams: configuration.streams, newStreamTable: newStreamTable)
        self.storage = storage
        self.configuration = configuration
        self.authenticator = authenticator
        self.logger = logger
        self.clock = clock
        let itemLimit = ItemEntry.chargeLimit(forBodiesUpTo: configuration.maxItemEntryBytes)
        let queryLimit = QueryEntry.chargeLimit(forBodiesUpTo: configuration.maxQueryEntryBytes)
        items = CacheStore(
            configuration: CacheStoreConfiguration(
                capacityBytes: configuration.itemCacheBytes,
                shardCount: Self.shardCount(
                    configuration.shards, capacity: configuration.itemCacheBytes, largest: itemLimit),
                maxEntryBytes: itemLimit
            ),
            discards: { $0.incarnation.hasEnded }
        )
        queries = CacheStore(
            configuration: CacheStoreConfiguration(
                capacityBytes: configuration.queryCacheBytes,
                shardCount: Self.shardCount(
                    configuration.shards, capacity: configuration.queryCacheBytes, largest: queryLimit),
                maxEntryBytes: queryLimit
            )
        )
    }

    /// Fewer lock stripes for a small cache: each stripe has its own share of the budget, and a share too small
    /// for large entries leaves most of itself unused (a 16 MiB cache in 64 stripes of 256 KiB holds one 64 KB
    /// answer per stripe, 8 MiB in all). Each stripe gets room for at least two of the largest entries allowed.
    static func shardCount(_ configured: Int, capacity: Int, largest: Int) -> Int {
        var shards = max(configured, 1)
        while shards > 1, capacity / shards < 2 * largest { shards /= 2 }
        return shards
    }

    /// Decides what to do with `request`, arriving on `eventLoop`.
    package func handle(_ request: ProxyRequest, on eventLoop: any EventLoop) -> ProxyOutcome {
        let (targetHeader, authorization, repeated) = Self.singleHeaders(of: request.head.headers)
        if let repeated {
            // The proxy and the storage server could read different operations, signatures or identities from
            // one request.
            return .immediate(
                errorResponse(DynamoError(.serialization, message: "The request has more than one \(repeated) header")))
        }
        let target = APITarget(xAmzTarget: targetHeader)
        var verified: ClientAuthenticator.Verified?
        if let authenticator {
            switch authenticator.authenticate(request) {
            case .success(let client): verified = client
            case .failure(let error): return .immediate(errorResponse(error))
            }
        }
        let client = verified?.identity
        guard case .dynamoDB(let operation) = target else {
            if let client, client.isLimited {
                let scope = RequestScope(target: targetHeader, object: try? JSONObject(parsing: request.body))
                if let denied = ClientAuthenticator.authorize(client, scope) {
                    return .immediate(errorResponse(denied))
                }
            }
            // Streams and anything that is not DynamoDB (other services, /moto-api/): untouched.
            return .deferred(forward(request, on: eventLoop).map { $0.marked(.bypass) })
        }
        let object: JSONObject
        do {
            object = try JSONObject(parsing: request.body)
        } catch {
            return .immediate(errorResponse(DynamoError(error)))
        }
        let namespace: Namespace
        if let client {
            // The body is read before access is decided, as DynamoDB does: a malformed body is a
            // SerializationException whoever sends it.
            if client.isLimited,
                let denied = ClientAuthenticator.authorize(client, RequestScope(target: targetHeader, object: object))
            {
                return .immediate(errorResponse(denied))
            }
            switch configuration.namespaces {
            case .callerSignature: namespace = Namespace(value: client.accessKeyID + "/" + (verified?.region ?? ""))
            case .shared: namespace = Namespace(value: client.accessKeyID)
            }
        } else {
            switch configuration.namespaces {
            case .callerSignature:
                namespace = Namespace(authorization: authorization)
            case .shared:
                namespace = Namespace(value: "")
            }
        }
        let call = Call(
            request: request,
            operation: operation,
            object: object,
            namespace: namespace,
            eventLoop: eventLoop
        )
        switch operation {
        case .getItem: return getItem(call)
        case .batchGetItem: return batchGetItem(call)
        case .putItem, .updateItem, .deleteItem, .batchWriteItem, .transactWriteItems: return keyedWrite(call)
        case .executeStatement, .batchExecuteStatement, .executeTransaction: return partiQL(call, operation)
        case .query, .scan: return queryOrScan(call, operation)
        case .describeTable: return describeTable(call)
        default:
            if operation.changesTableDefinition { return tableChange(call, operation) }
            return .deferred(passThrough(call, status: .bypass))
        }
    }

    /// Headers a request may carry once, with how they are spelt in errors.
    static let singleHeaderNames: [(lowercased: String, spelling: String)] = [
        ("x-amz-target", "X-Amz-Target"), ("authorization", "Authorization"), ("x-amz-date", "X-Amz-Date"),
        ("x-amz-security-token", "X-Amz-Security-Token"), ("host", "Host"), ("content-type", "Content-Type"),
    ]

    /// ``singleHeaderNames`` as bytes, for the comparison on every request.
    private static let singleHeaderBytes = singleHeaderNames.map { Array($0.lowercased.utf8) }

    /// Whether `bytes`, read as ASCII lower case, are `lowercased`; both of one length.
    private static func equalsLowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercased: [UInt8]) -> Bool {
        for i in 0..<bytes.count {
            let a = bytes[i]
            if (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") ? a | 0x20 : a) != lowercased[i] { return false }
        }
        return true
    }

    /// The `X-Amz-Target` and `Authorization` headers, and the first of ``singleHeaderNames`` that appears more
    /// than once. A byte comparison per header, without the arrays `HTTPHeaders` would build.
    static func singleHeaders(of headers: HTTPHeaders) -> (target: String?, authorization: String?, repeated: String?) {
        let candidates = singleHeaderBytes
        var target: String?
        var authorization: String?
        var seen = 0  // a bit per name of singleHeaderNames
        for (name, value) in headers {
            var name = name
            let found = name.withUTF8 { bytes in
                candidates.firstIndex { $0.count == bytes.count && Self.equalsLowercased(bytes, $0) }
            }
            guard let index = found else { continue }
            if seen & (1 << index) != 0 { return (target, authorization, singleHeaderNames[index].spelling) }
            seen |= 1 << index
            if index == 0 { target = value }
            if index == 1 { authorization = value }
        }
        return (target, authorization, nil)
    }

    // MARK: Admin

    /// The operator's flush: forgets one table (its items and its query and scan pages, at once, reclaimed
    /// lazily), or everything, whose memory is then released at once.
    package func flush(table: String?) {
        guard let table else {
            apply([.forgetAllTables(.flush)])
            items.removeAll()
            queries.removeAll()
            return
        }
        apply([.forgetTable(table, .flush)])
    }

    /// Reclaims expired entries a bounded number at a time; call it periodically.
    package func sweep() {
        let now = clock()
        items.sweep(now: now)
        queries.sweep(now: now)
    }

    /// The item cache's counters.
    package func itemCacheStats() -> CacheStoreStats {
        items.stats()
    }

    /// The query cache's counters.
    package func queryCacheStats() -> CacheStoreStats {
        queries.stats()
    }

    /// Requests waiting on the storage server now.
    package var upstreamInflight: Int { inflight.value }

    /// Checks the caches' invariants; empty when sound. For tests.
    package func validateCaches() -> [String] {
        items.validate().map { "items: \($0)" } + queries.validate().map { "queries: \($0)" }
    }

    // MARK: Forwarding

    /// Sends `body` (the client's own unless a rewrite is allowed) with the client's headers.
    func send(_ call: Call, body: ByteBuffer? = nil) -> EventLoopFuture<UpstreamAnswer> {
        var head = call.request.head
        HopByHopHeaders.remove(from: &head.headers)
        let request = StorageRequest(
            head: head, body: body ?? call.request.body, retryOnStaleConnection: call.operation.hasNoSideEffects)
        let started = clock()
        guard inflight.enter(limit: configuration.upstreamMaxInflight) else {
            statistics.upstreamErrors[UpstreamErrorKind.overloaded.rawValue].add()
            return call.eventLoop.makeSucceededFuture(.failed(Self.overloaded))
        }
        return storage.execute(request, on: call.eventLoop).map { response in
            self.inflight.leave()
            guard response.isIntact else {
                self.statistics.recordUpstream(nanoseconds: self.clock() &- started, error: .invalidResponse)
                return .failed(Self.corrupt)
            }
            self.statistics.recordUpstream(nanoseconds: self.clock() &- started, error: nil)
            return UpstreamAnswer.response(response)
        }.recover { error in
            self.inflight.leave()
            let failure = error as? StorageError ?? StorageError(.connectionLost, description: "\(error)")
            self.statistics.recordUpstream(nanoseconds: self.clock() &- started, error: failure.kind)
            return .failed(failure)
        }
    }

    /// Forwards a request as it is and answers what the storage server answered.
    func forward(_ request: ProxyRequest, on eventLoop: any EventLoop) -> EventLoopFuture<ProxyResponse> {
        var head = request.head
        HopByHopHeaders.remove(from: &head.headers)
        guard inflight.enter(limit: configuration.upstreamMaxInflight) else {
            statistics.upstreamErrors[UpstreamErrorKind.overloaded.rawValue].add()
            return eventLoop.makeSucceededFuture(internalFailure(Self.overloaded))
        }
        return storage.execute(StorageRequest(head: head, body: request.body), on: eventLoop).map {
            self.inflight.leave()
            guard $0.isIntact else {
                self.statistics.upstreamErrors[UpstreamErrorKind.invalidResponse.rawValue].add()
                return self.internalFailure(Self.corrupt)
            }
            return ProxyResponse(upstream: $0)
        }.recover { error in
            self.inflight.leave()
            return self.internalFailure(
                error as? StorageError ?? StorageError(.connectionLost, description: "\(error)"))
        }
    }

    /// An answer whose body does not match its `x-amz-crc32`: damaged on the way, so what it says is unknown.
    static let corrupt = StorageError(
        .invalidResponse, description: "the storage server's answer does not match its x-amz-crc32")

    /// The refusal of a request past `upstreamMaxInflight`: nothing was sent.
    static let overloaded = StorageError(
        .overloaded, description: "too many requests are waiting on the storage server; the request was not sent")

    /// Forwards a DynamoDB request untouched, forgetting the table when the server says it does not exist.
    func passThrough(_ call: Call, status: CacheStatus) -> EventLoopFuture<ProxyResponse> {
        send(call).map { answer in
            self.forgetIfMissing(answer, tables: (try? call.object.tableName()).flatMap { $0 }.map { [$0] } ?? [])
            return self.response(for: answer).marked(status)
        }
    }

    /// Forgets `tables` when the storage server answered that a table does not exist.
    func forgetIfMissing(_ answer: UpstreamAnswer, tables: [String]) {
        guard answer.errorCode == "ResourceNotFoundException" else { return }
        apply(tables.map { .forgetTable($0, .notFound) })
    }

    /// The client's answer for an upstream outcome: the server's own response, or a composed error.
    func response(for answer: UpstreamAnswer) -> ProxyResponse {
        switch answer {
        case .response(let response): ProxyResponse(upstream: response)
        case .failed(let error): internalFailure(error)
        }
    }

    // MARK: Failing open

    /// Counts a fall-back of the cache path, saying why the first time for each cause. The caller then handles
    /// the request as if the cache held nothing: a fault of the proxy's own reaches no client.
    func failedOpen(_ cause: FailOpenCause, _ detail: @autoclosure () -> String) {
        guard statistics.failedOpen(cause) else { return }
        logger.error(
            "the cache path failed; such requests go to the storage server (said once per cause, counted in /metrics)",
            metadata: ["cause": "\(cause.name)", "detail": "\(detail())"])
    }

    /// The answer for a request whose handling failed with an error nothing expected. A read is forwarded as it
    /// came, as a miss. Anything else may have been sent already and cannot be sent twice: the caches forget
    /// every table, and the client learns that the outcome is unknown, as after a lost answer.
    package func recover(from error: any Error, request: ProxyRequest, on eventLoop: any EventLoop)
        -> EventLoopFuture<ProxyResponse>
    {
        let target = APITarget(xAmzTarget: request.head.headers.first(name: "x-amz-target"))
        guard case .dynamoDB(let operation) = target, operation.hasNoSideEffects else {
            apply([.forgetAllTables(.unknownOutcome)])
            logger.error("handling a request that may write failed", metadata: ["error": "\(error)"])
            return eventLoop.makeSucceededFuture(
                errorResponse(
                    DynamoError(
                        .internalServerError,
                        message: "The proxy failed while handling the request; it may or may not have been applied.")))
        }
        failedOpen(.unexpectedError, "\(operation): \(error)")
        return forward(request, on: eventLoop).map { $0.marked(.miss) }
    }

    /// The answer for a request that failed in the proxy or on the way to the storage server. An unreachable
    /// server (nothing sent) is ServiceUnavailable; a lost or late answer is InternalServerError, both retryable.
    func internalFailure(_ error: StorageError) -> ProxyResponse {
        switch error.kind {
        case .tlsRefused, .noCredentials, .overloaded:
            // Upstream says why once a minute, the credentials' refresher at each attempt, the metrics count
            // refusals; a line per request would bury it.
            logger.debug("storage server request failed", metadata: ["error": "\(error)"])
        default:
            logger.warning("storage server request failed", metadata: ["error": "\(error)"])
        }
        let message: String
        switch error.kind {
        case .overloaded:
            return errorResponse(
                DynamoError(
                    .throttling,
                    message:
                        "The proxy has as many requests waiting on the storage server as it allows; retry with back-off."
                ))
        case .unreachable:
            message =
                "The storage server is unreachable\(error.reason.map { " (\($0))" } ?? ""); the request was not sent."
        case .tlsRefused:
            message =
                "The proxy refused the storage server's TLS connection\(error.reason.map { " (\($0))" } ?? ""); "
                + "the request was not sent."
        case .noCredentials:
            // Where the proxy's credentials come from, and why they fail, is for its operator (log, /readyz), not
            // for clients.
            message =
                "The proxy cannot sign the request: it has no usable AWS credentials; the request was not sent."
        case .timeout:
            return errorResponse(
                DynamoError(
                    .internalServerError,
                    message: "The storage server did not answer in time; the request may or may not have been applied."
                )
            )
        case .connectionLost, .invalidResponse:
            return errorResponse(
                DynamoError(
                    .internalServerError,
                    message:
                        "The storage server's answer was lost; the request may or may not have been applied: \(error)"
                )
            )
        }
        return errorResponse(DynamoError(.serviceUnavailable, message: message))
    }

    /// With client authentication, the answer to a request that its head alone shows to be refused (no
    /// `Authorization`, an unknown key, a date out of range): given before the body is read, so that nobody
    /// without a key can make the proxy hold a large body. Nil when the request may go on. A small body is
    /// simply read, and the whole signature checked once in `handle`: checking its head first would do that
    /// work twice on every ordinary request.
    package func earlyRefusal(_ head: HTTPRequestHead) -> ProxyResponse? {
        guard let authenticator else { return nil }
        let length = head.headers.first(name: "content-length").flatMap(Int.init)
        let announcesLargeBody = length.map { $0 > Self.smallBodyBytes } ?? true  // chunked: size unknown
        guard announcesLargeBody || head.headers.contains(name: "expect"),
            let error = authenticator.precheck(head)
        else { return nil }
        return errorResponse(error)
    }

    /// Bodies up to this size are read before a request is authenticated (GetItem bodies are ~100 bytes).
    static let smallBodyBytes = 64 << 10

    /// The answer for a request body over the limit, refused before it is read.
    package func requestTooLarge(size: Int) -> ProxyResponse {
        errorResponse(DynamoError(.bodyTooLarge(size: size)))
    }

    /// The answer for bytes that are not HTTP/1.1.
    package func malformedHTTP(_ detail: String) -> ProxyResponse {
        errorResponse(DynamoError(.serialization, message: "Malformed HTTP request: \(detail)"))
    }

    /// A DynamoDB-style error composed by the proxy, with the headers DynamoDB sends and a correct checksum.
    /// The server adds `x-amzn-RequestId`.
    /// Marked `rejected`; an error that answers a request the proxy did act on is marked again by its caller.
    func errorResponse(_ error: DynamoError) -> ProxyResponse {
        composed(body: error.body(allocator: allocator), status: HTTPResponseStatus(statusCode: error.httpStatus))
            .marked(.rejected)
    }

    /// A response whose body the proxy composed (or stored): DynamoDB's content type and the body's checksum.
    func composed(
        body: ByteBuffer, checksum: String? = nil, status: HTTPResponseStatus = .ok, cacheStatus: CacheStatus? = nil
    ) -> ProxyResponse {
        var headers = HTTPHeaders()
        headers.reserveCapacity(3)
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        headers.add(name: "x-amz-crc32", value: checksum ?? String(CRC32.checksum(body)))
        // Added, not replaced as `marked` does: a composed answer has no other.
        if let cacheStatus { headers.add(name: CacheStatus.headerName, value: cacheStatus.rawValue) }
        var response = ProxyResponse(status: status, headers: headers, body: body, needsRequestID: true)
        response.cacheStatus = cacheStatus
        return response
    }
}

/// One DynamoDB request being handled: the request, its validated body, who sent it, and where it runs.
struct Call {
    let request: ProxyRequest
    let operation: DynamoOperation
    let object: JSONObject
    let namespace: Namespace
    let eventLoop: any EventLoop
}

/// What came back from the storage server for one request.
enum UpstreamAnswer: Sendable {
    case response(StorageResponse)
    case failed(StorageError)

    /// Whether the storage server answered 2xx.
    var isSuccess: Bool {
        guard case .response(let response) = self else { return false }
        return (200..<300).contains(response.head.status.code)
    }

    /// The error code (the part of `__type` after `#`) of a 4xx/5xx answer.
    var errorCode: String? {
        guard case .response(let response) = self, response.head.status.code >= 400 else { return nil }
        return UpstreamErrorCode.code(in: response.body)
    }
}

extension ProxyResponse {
    init(upstream: StorageResponse) {
        var headers = upstream.head.headers
        HopByHopHeaders.remove(from: &headers)
        self.init(status: upstream.head.status, headers: headers, body: upstream.body)
    }
}

extension DynamoProxy {
    /// Counts an answer once it is written: the server calls this for every request on the data plane.
    package func didAnswer(_ request: HTTPRequestHead, with response: ProxyResponse, nanoseconds: UInt64) {
        statistics.record(
            operation: OperationLabel(APITarget(xAmzTarget: request.headers.first(name: "x-amz-target"))),
            outcome: OutcomeLabel(response.cacheStatus),
            status: response.status,
            errorCode: UpstreamErrorCode.code(in: response.body),
            nanoseconds: nanoseconds
        )
    }
}
