import ArgumentParser
import DynamoWire
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import Proxy
import Server
import ServiceLifecycle
import StreamFollower
import Upstream

/// `dynamo-cache serve`: runs the proxy until SIGTERM or SIGINT, then drains in-flight requests.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the proxy in front of a DynamoDB-compatible storage server."
    )

    @Option(
        help:
            "Address for DynamoDB clients, HOST:PORT; port 0 picks a free one. Env DYNAMO_CACHE_LISTEN. Default \(ServeDefaults.listen) (DynamoDB Local's port, what local clients expect)."
    )
    var listen: String?

    @Option(
        help:
            "The storage server: https://HOST[:PORT] (real DynamoDB, e.g. https://dynamodb.eu-west-1.amazonaws.com) or http://HOST:PORT (moto_server, DynamoDB Local). Env DYNAMO_CACHE_UPSTREAM. Default: https://dynamodb.REGION.amazonaws.com with --region, else http://127.0.0.1:8001."
    )
    var upstream: String?

    @Option(
        help:
            "AWS region. Alone, the storage server is https://dynamodb.REGION.amazonaws.com; it is also the region requests are signed for. Env DYNAMO_CACHE_REGION. Default: from the --upstream host name (dynamodb.REGION.amazonaws.com), else AWS_REGION or AWS_DEFAULT_REGION."
    )
    var region: String?

    @Option(
        help:
            "The DynamoDB Streams API endpoint (DynamoDBStreams_20120810 requests go there). Env DYNAMO_CACHE_STREAMS_UPSTREAM. Default: https://streams.dynamodb.REGION.amazonaws.com with --region alone, else the --upstream URL."
    )
    var streamsUpstream: String?

    @Option(
        help:
            "sign: drop the client's signature and sign every forwarded request (after any rewrite) with the proxy's own AWS credentials, found as the AWS SDKs find them (environment, shared files, web identity, container, instance metadata); forward: pass the client's signature through unchanged. Env DYNAMO_CACHE_UPSTREAM_AUTH. Default: sign for https:// and --region, forward for http://."
    )
    var upstreamAuth: String?

    @Option(
        help:
            "PEM file of a private CA to trust for an https:// storage server, besides the system trust store. Env DYNAMO_CACHE_UPSTREAM_CA_FILE. Default: none."
    )
    var upstreamCaFile: String?

    @Option(
        help:
            "Idle keep-alive connections to the storage server kept per event loop. Env DYNAMO_CACHE_UPSTREAM_POOL_SIZE. Default \(ServeDefaults.upstreamPoolSize)."
    )
    var upstreamPoolSize: Int?

    @Option(
        help:
            "An idle pooled connection to the storage server is closed after this long. Env DYNAMO_CACHE_UPSTREAM_IDLE_TIMEOUT. Default \(ServeDefaults.upstreamIdleTimeout)."
    )
    var upstreamIdleTimeout: String?

    @Option(
        help:
            "none: anyone who reaches the data listener is served (with --upstream-auth sign, with the proxy's credentials, so a listener other hosts can reach needs --client-auth none said explicitly); sigv4: every request must be SigV4-signed with a key of --client-credentials, and its section's tables and access apply. Env DYNAMO_CACHE_CLIENT_AUTH. Default none."
    )
    var clientAuth: String?

    @Option(
        help:
            "The clients of --client-auth sigv4: an AWS shared-credentials file, a section per client (aws_access_key_id, aws_secret_access_key, optional tables = name, prefix* and access = read|readwrite|admin, default readwrite: items only). Read again on SIGHUP. Env DYNAMO_CACHE_CLIENT_CREDENTIALS. Default: none."
    )
    var clientCredentials: String?

    @Option(
        help:
            "PEM certificate chain for TLS on the data listener (with --tls-key); read again on SIGHUP. Env DYNAMO_CACHE_TLS_CERT. Default: none (plain HTTP)."
    )
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert. Env DYNAMO_CACHE_TLS_KEY. Default: none.")
    var tlsKey: String?

    @Option(
        help:
            "PEM certificate chain for TLS on the admin listener (with --admin-tls-key); read again on SIGHUP. Env DYNAMO_CACHE_ADMIN_TLS_CERT. Default: none (plain HTTP)."
    )
    var adminTlsCert: String?

    @Option(help: "PEM private key for --admin-tls-cert. Env DYNAMO_CACHE_ADMIN_TLS_KEY. Default: none.")
    var adminTlsKey: String?

    @Option(
        help:
            "Address of the admin endpoints (/healthz, /stats, /flush), HOST:PORT; keep it private. Env DYNAMO_CACHE_ADMIN_LISTEN. Default \(ServeDefaults.adminListen)."
    )
    var adminListen: String?

    @Option(
        help:
            "Time allowed to connect to the storage server (e.g. 2s, 500ms). Past it the client gets ServiceUnavailable (503). Env DYNAMO_CACHE_UPSTREAM_CONNECT_TIMEOUT. Default \(ServeDefaults.upstreamConnectTimeout)."
    )
    var upstreamConnectTimeout: String?

    @Option(
        help:
            "Time the storage server may take to answer. Past it the client gets InternalServerError (500). Env DYNAMO_CACHE_UPSTREAM_TIMEOUT. Default \(ServeDefaults.upstreamTimeout)."
    )
    var upstreamTimeout: String?

    @Option(
        help:
            "Event-loop threads serving clients and the storage server. Env DYNAMO_CACHE_THREADS. Default: one per core."
    )
    var threads: Int?

    @Option(
        help:
            "Time in-flight requests get to finish after SIGTERM/SIGINT. Env DYNAMO_CACHE_SHUTDOWN_GRACE. Default \(ServeDefaults.shutdownGrace)."
    )
    var shutdownGrace: String?

    @Option(
        help:
            "Memory for the item cache (GetItem, BatchGetItem), e.g. 256MiB, 2GiB. Env DYNAMO_CACHE_ITEM_CACHE_SIZE. Default \(ServeDefaults.itemCacheSize)."
    )
    var itemCacheSize: String?

    @Option(
        help:
            "How long an item stays cached after it is stored; a hit does not extend it. 0 = no time expiry. Env DYNAMO_CACHE_ITEM_TTL. Default \(ServeDefaults.itemTTL)."
    )
    var itemTtl: String?

    @Option(
        help:
            "How long the fact that an item does not exist stays cached. 0 = no time expiry. Env DYNAMO_CACHE_NEGATIVE_TTL. Default \(ServeDefaults.negativeTTL)."
    )
    var negativeTtl: String?

    @Option(
        help:
            "Items whose stored answer is larger than this are not cached. Env DYNAMO_CACHE_ITEM_MAX_SIZE. Default \(ServeDefaults.itemMaxSize)."
    )
    var itemMaxSize: String?

    @Option(
        help:
            "on: the proxy may change a request before forwarding it (fetch whole items on projected misses, ask UpdateItem for ALL_NEW). With --upstream-auth forward, set off in front of a storage server that verifies SigV4 signatures (a changed body breaks the client's signature); requests the proxy signs itself are signed after the change. Env DYNAMO_CACHE_REWRITE_REQUESTS. Default \(ServeDefaults.rewriteRequests)."
    )
    var rewriteRequests: String?

    @Option(
        help:
            "Memory for the query cache (Query, Scan pages), e.g. 64MiB. Env DYNAMO_CACHE_QUERY_CACHE_SIZE. Default \(ServeDefaults.queryCacheSize)."
    )
    var queryCacheSize: String?

    @Option(
        help:
            "How long a Query or Scan page stays cached after it is stored. 0 turns the query cache off (DAX's meaning). Env DYNAMO_CACHE_QUERY_TTL. Default \(ServeDefaults.queryTTL)."
    )
    var queryTtl: String?

    @Option(
        help:
            "How one table is cached, overriding the defaults: TABLE:off (its reads always go to the storage server; nothing of it is kept) or TABLE:ttl=DURATION[,query-ttl=DURATION] (its items' lifetime, which also caps how long it remembers an absence, and its Query and Scan pages' lifetime; query-ttl=0: no pages). Repeat for several tables, e.g. --table-policy sessions:ttl=30s --table-policy audit:off. Env DYNAMO_CACHE_TABLE_POLICY, entries separated by ;. None by default."
    )
    var tablePolicy: [String] = []

    @Option(
        help:
            "Query and Scan pages larger than this are not cached. Env DYNAMO_CACHE_QUERY_MAX_SIZE. Default \(ServeDefaults.queryMaxSize)."
    )
    var queryMaxSize: String?

    @Option(
        help:
            "write: any write to a table through the proxy makes its cached Query/Scan pages stale before the write is answered; ttl: writes leave them until their TTL ends (DAX's behaviour). Env DYNAMO_CACHE_QUERY_INVALIDATION. Default \(ServeDefaults.queryInvalidation)."
    )
    var queryInvalidation: String?

    @Option(
        help:
            "Requests this node may have waiting on the storage server at once; past it, requests that need the storage server are answered at once with ThrottlingException (which SDKs retry with back-off) while hits go on being served. Env DYNAMO_CACHE_UPSTREAM_MAX_INFLIGHT. Default \(ServeDefaults.upstreamMaxInflight)."
    )
    var upstreamMaxInflight: Int?

    @Option(
        help:
            "Time a client may take to send a request's head, from its first byte; then the connection is closed (slow or half-sent requests cannot hold connections). Env DYNAMO_CACHE_CLIENT_HEADER_TIMEOUT. Default \(ServeDefaults.clientHeaderTimeout)."
    )
    var clientHeaderTimeout: String?

    @Option(
        help:
            "Time a client may leave between two reads of a request's body; then the connection is closed. Env DYNAMO_CACHE_CLIENT_BODY_TIMEOUT. Default \(ServeDefaults.clientBodyTimeout)."
    )
    var clientBodyTimeout: String?

    @Option(
        help:
            "Time a keep-alive connection may stay idle between requests; then it is closed. Env DYNAMO_CACHE_CLIENT_IDLE_TIMEOUT. Default \(ServeDefaults.clientIdleTimeout)."
    )
    var clientIdleTimeout: String?

    @Option(
        help:
            "Open client connections beyond which new ones are closed as soon as they are accepted (each holds a descriptor and buffers). Env DYNAMO_CACHE_MAX_CONNECTIONS. Default \(ServeDefaults.maxConnections)."
    )
    var maxConnections: Int?

    @Option(
        help:
            "auto: follow the DynamoDB Stream of every table the proxy caches that has one (found with DescribeTable), so writes that bypass this node are seen within a poll; TABLE,...: only these tables; off: none, writes that bypass this node are seen when entries expire. Followed tables are served from memory only while their follower is current. The follower signs with the proxy's own AWS credentials, whatever --upstream-auth says. Env DYNAMO_CACHE_STREAMS. Default \(ServeDefaults.streams)."
    )
    var streams: String?

    @Option(
        help:
            "Time between GetRecords calls to one shard once it is read to its end. Env DYNAMO_CACHE_STREAM_POLL_INTERVAL. Default \(ServeDefaults.streamPollInterval)."
    )
    var streamPollInterval: String?

    @Option(
        help:
            "A followed table whose follower is further behind than this is answered from the storage server, not from memory, until it catches up. Env DYNAMO_CACHE_STREAM_MAX_LAG. Default \(ServeDefaults.streamMaxLag)."
    )
    var streamMaxLag: String?

    @Option(
        help:
            "trace, debug, info, notice, warning, error or critical. Env DYNAMO_CACHE_LOG_LEVEL. Default \(ServeDefaults.logLevel)."
    )
    var logLevel: String?

    func run() async throws {
        let settings = try ServeSettings(self, environment: ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // The request histogram's buckets (written into /metrics by Monitoring), for the storage server's too.
        let buckets = DurationHistograms.upperBoundsNanoseconds.map { Swift.Duration.nanoseconds(Int64($0)) }
        factory.durationHistogramBuckets["dynamocache_upstream_request_duration_seconds"] = buckets
        MetricsSystem.bootstrap(factory)
        try await ProxyProcess(settings: settings, registry: registry).run()
    }
}

/// The options of `serve` resolved against the environment and defaults, and validated.
struct ServeSettings {
    var listen: HostPort
    var upstream: UpstreamConfiguration
    /// Where DynamoDB Streams API requests go; the storage server's own configuration when it serves them.
    var streamsUpstream: UpstreamConfiguration
    /// Sign forwarded requests with the proxy's own credentials (`--upstream-auth sign`).
    var signsRequests: Bool
    /// The region requests are signed for; nil only when nothing is signed.
    var region: String?
    /// `--client-credentials`, when clients authenticate with SigV4.
    var clientCredentialsFile: String?
    var dataTLS: (certificate: String, key: String)?
    var adminTLS: (certificate: String, key: String)?
    var admin: HostPort
    var threads: Int
    var shutdownGrace: TimeAmount
    var clientTimeouts: ConnectionTimeouts
    var maxConnections: Int
    var logLevel: Logger.Level
    var proxy: ProxyConfiguration
    /// `--streams` TABLE,...: followed from the start; empty with `auto` (tables are followed as they are met).
    var streamTables: [String] = []
    var streamFollower: StreamFollowerConfiguration

    init(_ options: Serve, environment: [String: String]) throws {
        func value(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        listen = try HostPort(
            parsing: value(options.listen, "DYNAMO_CACHE_LISTEN") ?? ServeDefaults.listen, option: "--listen")
        admin = try HostPort(
            parsing: value(options.adminListen, "DYNAMO_CACHE_ADMIN_LISTEN") ?? ServeDefaults.adminListen,
            option: "--admin-listen"
        )
        let environmentRegion =
            environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["AWS_DEFAULT_REGION"].flatMap { $0.isEmpty ? nil : $0 }
        let explicitRegion = value(options.region, "DYNAMO_CACHE_REGION")
        let upstreamURL = value(options.upstream, "DYNAMO_CACHE_UPSTREAM")
        let url = upstreamURL ?? explicitRegion.map(AWSEndpoints.dynamoDB) ?? "http://127.0.0.1:8001"
        let endpoint: UpstreamEndpoint
        do {
            endpoint = try UpstreamEndpoint(parsing: url)
        } catch {
            throw ValidationError("--upstream: \(error)")
        }
        let streamsURL =
            value(options.streamsUpstream, "DYNAMO_CACHE_STREAMS_UPSTREAM")
            ?? (upstreamURL == nil ? explicitRegion.map(AWSEndpoints.streams) : nil) ?? url
        let streamsEndpoint: UpstreamEndpoint
        do {
            streamsEndpoint = try UpstreamEndpoint(parsing: streamsURL)
        } catch {
            throw ValidationError("--streams-upstream: \(error)")
        }
        let caFile = value(options.upstreamCaFile, "DYNAMO_CACHE_UPSTREAM_CA_FILE")
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw ValidationError("--upstream-ca-file: cannot read \(caFile)")
            }
            guard endpoint.isTLS || streamsEndpoint.isTLS else {
                throw ValidationError("--upstream-ca-file is for an https:// storage server; \(url) is plain HTTP")
            }
        }
        do {
            upstream = try UpstreamConfiguration(endpoint: endpoint, caFile: caFile)
            streamsUpstream = try UpstreamConfiguration(endpoint: streamsEndpoint, caFile: caFile)
        } catch {
            throw ValidationError("--upstream-ca-file: \(error)")
        }
        switch value(options.upstreamAuth, "DYNAMO_CACHE_UPSTREAM_AUTH")?.lowercased() {
        case nil: signsRequests = endpoint.isTLS
        case "sign": signsRequests = true
        case "forward": signsRequests = false
        case let other?: throw ValidationError("--upstream-auth: expected sign or forward, got \(other)")
        }
        region = explicitRegion ?? AWSEndpoints.region(ofHost: endpoint.host) ?? environmentRegion
        if signsRequests, region == nil {
            throw ValidationError(
                "--upstream-auth sign needs the region to sign for: give --region (or AWS_REGION), or an "
                    + "--upstream of the form https://dynamodb.REGION.amazonaws.com")
        }
        let clientAuth = value(options.clientAuth, "DYNAMO_CACHE_CLIENT_AUTH")?.lowercased()
        switch clientAuth ?? "none" {
        case "none":
            clientCredentialsFile = nil
            // Secure by default: an open listener that signs with the proxy's identity must be asked for.
            if signsRequests, clientAuth == nil, !listen.isLoopback {
                throw ValidationError(
                    "with --upstream-auth sign and no client authentication, anyone who reaches \(listen) would act "
                        + "with the proxy's AWS credentials: add --client-auth sigv4 --client-credentials FILE, listen "
                        + "on a loopback address, or give --client-auth none to accept that")
            }
        case "sigv4":
            guard let file = value(options.clientCredentials, "DYNAMO_CACHE_CLIENT_CREDENTIALS") else {
                throw ValidationError("--client-auth sigv4 needs --client-credentials FILE")
            }
            clientCredentialsFile = file
        case let other:
            throw ValidationError("--client-auth: expected none or sigv4, got \(other)")
        }
        dataTLS = try Self.pair(
            value(options.tlsCert, "DYNAMO_CACHE_TLS_CERT"), value(options.tlsKey, "DYNAMO_CACHE_TLS_KEY"),
            certificateOption: "--tls-cert", keyOption: "--tls-key")
        adminTLS = try Self.pair(
            value(options.adminTlsCert, "DYNAMO_CACHE_ADMIN_TLS_CERT"),
            value(options.adminTlsKey, "DYNAMO_CACHE_ADMIN_TLS_KEY"),
            certificateOption: "--admin-tls-cert", keyOption: "--admin-tls-key")
        var poolSize = options.upstreamPoolSize
        if poolSize == nil, let text = value(nil, "DYNAMO_CACHE_UPSTREAM_POOL_SIZE") {
            guard let size = Int(text) else {
                throw ValidationError("DYNAMO_CACHE_UPSTREAM_POOL_SIZE: not a number: \(text)")
            }
            poolSize = size
        }
        if let poolSize {
            guard poolSize >= 0 else { throw ValidationError("--upstream-pool-size must be 0 or more") }
            upstream.maxIdleConnectionsPerLoop = poolSize
        }
        upstream.idleTimeout = try DurationOption.parse(
            value(options.upstreamIdleTimeout, "DYNAMO_CACHE_UPSTREAM_IDLE_TIMEOUT")
                ?? ServeDefaults.upstreamIdleTimeout,
            option: "--upstream-idle-timeout"
        )
        upstream.connectTimeout = try DurationOption.parse(
            value(options.upstreamConnectTimeout, "DYNAMO_CACHE_UPSTREAM_CONNECT_TIMEOUT")
                ?? ServeDefaults.upstreamConnectTimeout,
            option: "--upstream-connect-timeout"
        )
        upstream.responseTimeout = try DurationOption.parse(
            value(options.upstreamTimeout, "DYNAMO_CACHE_UPSTREAM_TIMEOUT") ?? ServeDefaults.upstreamTimeout,
            option: "--upstream-timeout"
        )
        shutdownGrace = try DurationOption.parse(
            value(options.shutdownGrace, "DYNAMO_CACHE_SHUTDOWN_GRACE") ?? ServeDefaults.shutdownGrace,
            option: "--shutdown-grace"
        )
        clientTimeouts = ConnectionTimeouts(
            header: try DurationOption.parse(
                value(options.clientHeaderTimeout, "DYNAMO_CACHE_CLIENT_HEADER_TIMEOUT")
                    ?? ServeDefaults.clientHeaderTimeout, option: "--client-header-timeout"),
            body: try DurationOption.parse(
                value(options.clientBodyTimeout, "DYNAMO_CACHE_CLIENT_BODY_TIMEOUT") ?? ServeDefaults.clientBodyTimeout,
                option: "--client-body-timeout"),
            idle: try DurationOption.parse(
                value(options.clientIdleTimeout, "DYNAMO_CACHE_CLIENT_IDLE_TIMEOUT") ?? ServeDefaults.clientIdleTimeout,
                option: "--client-idle-timeout"))
        for (name, duration) in [
            ("--client-header-timeout", clientTimeouts.header), ("--client-body-timeout", clientTimeouts.body),
            ("--client-idle-timeout", clientTimeouts.idle),
        ] where duration <= .zero {
            throw ValidationError("\(name) must be above 0")
        }
        if let count = options.maxConnections {
            maxConnections = count
        } else if let text = environment["DYNAMO_CACHE_MAX_CONNECTIONS"], !text.isEmpty {
            guard let count = Int(text) else {
                throw ValidationError("DYNAMO_CACHE_MAX_CONNECTIONS: not a number: \(text)")
            }
            maxConnections = count
        } else {
            maxConnections = Int(ServeDefaults.maxConnections)!
        }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        var upstreamMaxInflight = Int(ServeDefaults.upstreamMaxInflight)!
        if let count = options.upstreamMaxInflight {
            upstreamMaxInflight = count
        } else if let text = environment["DYNAMO_CACHE_UPSTREAM_MAX_INFLIGHT"], !text.isEmpty {
            guard let count = Int(text) else {
                throw ValidationError("DYNAMO_CACHE_UPSTREAM_MAX_INFLIGHT: not a number: \(text)")
            }
            upstreamMaxInflight = count
        }
        guard upstreamMaxInflight >= 1 else { throw ValidationError("--upstream-max-inflight must be at least 1") }
        if let threads = options.threads {
            self.threads = threads
        } else if let text = environment["DYNAMO_CACHE_THREADS"], !text.isEmpty {
            guard let threads = Int(text) else { throw ValidationError("DYNAMO_CACHE_THREADS: not a number: \(text)") }
            self.threads = threads
        } else {
            threads = System.coreCount
        }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        proxy = ProxyConfiguration()
        proxy.upstreamMaxInflight = upstreamMaxInflight
        proxy.itemCacheBytes = try ByteSize.parse(
            value(options.itemCacheSize, "DYNAMO_CACHE_ITEM_CACHE_SIZE") ?? ServeDefaults.itemCacheSize,
            option: "--item-cache-size"
        )
        proxy.itemTTL = try DurationOption.nanoseconds(
            value(options.itemTtl, "DYNAMO_CACHE_ITEM_TTL") ?? ServeDefaults.itemTTL,
            option: "--item-ttl"
        )
        proxy.negativeTTL = try DurationOption.nanoseconds(
            value(options.negativeTtl, "DYNAMO_CACHE_NEGATIVE_TTL") ?? ServeDefaults.negativeTTL,
            option: "--negative-ttl"
        )
        proxy.maxItemEntryBytes = try ByteSize.parse(
            value(options.itemMaxSize, "DYNAMO_CACHE_ITEM_MAX_SIZE") ?? ServeDefaults.itemMaxSize,
            option: "--item-max-size"
        )
        proxy.queryCacheBytes = try ByteSize.parse(
            value(options.queryCacheSize, "DYNAMO_CACHE_QUERY_CACHE_SIZE") ?? ServeDefaults.queryCacheSize,
            option: "--query-cache-size"
        )
        proxy.queryTTL = try DurationOption.nanoseconds(
            value(options.queryTtl, "DYNAMO_CACHE_QUERY_TTL") ?? ServeDefaults.queryTTL,
            option: "--query-ttl"
        )
        let policies =
            options.tablePolicy.isEmpty
            ? (value(nil, "DYNAMO_CACHE_TABLE_POLICY") ?? "").split(separator: ";").map(String.init)
            : options.tablePolicy
        proxy.tablePolicies = try TablePolicyOption.parse(policies)
        proxy.maxQueryEntryBytes = try ByteSize.parse(
            value(options.queryMaxSize, "DYNAMO_CACHE_QUERY_MAX_SIZE") ?? ServeDefaults.queryMaxSize,
            option: "--query-max-size"
        )
        let invalidation =
            value(options.queryInvalidation, "DYNAMO_CACHE_QUERY_INVALIDATION")
            ?? ServeDefaults.queryInvalidation
        guard let queryInvalidation = ProxyConfiguration.QueryInvalidation(rawValue: invalidation.lowercased()) else {
            throw ValidationError("--query-invalidation: expected write or ttl, got \(invalidation)")
        }
        proxy.queryInvalidation = queryInvalidation
        // Signed with the proxy's credentials, every caller reads the same data: one namespace. Forwarded
        // signatures keep callers apart, as the storage server does.
        proxy.namespaces = signsRequests ? .shared : .callerSignature
        switch value(options.rewriteRequests, "DYNAMO_CACHE_REWRITE_REQUESTS")?.lowercased()
            ?? ServeDefaults.rewriteRequests
        {
        case "on", "true", "1": proxy.rewriteRequests = true
        case "off", "false", "0": proxy.rewriteRequests = false
        case let other: throw ValidationError("--rewrite-requests: expected on or off, got \(other)")
        }
        switch value(options.streams, "DYNAMO_CACHE_STREAMS") ?? ServeDefaults.streams {
        case "off": proxy.streams = nil
        case "auto": proxy.streams = .all
        case let list:
            streamTables = list.split(separator: ",").map { TableName.normalized(String($0)) }
            guard !streamTables.isEmpty, !streamTables.contains("") else {
                throw ValidationError("--streams: expected auto, off or TABLE,..., got \(list)")
            }
            proxy.streams = .tables(Set(streamTables))
        }
        if proxy.streams != nil, region == nil {
            throw ValidationError(
                "--streams needs the region to sign the follower's calls for: give --region (or AWS_REGION)")
        }
        streamFollower = StreamFollowerConfiguration()
        streamFollower.pollInterval = try DurationOption.nanoseconds(
            value(options.streamPollInterval, "DYNAMO_CACHE_STREAM_POLL_INTERVAL") ?? ServeDefaults.streamPollInterval,
            option: "--stream-poll-interval")
        guard streamFollower.pollInterval > 0 else { throw ValidationError("--stream-poll-interval must be above 0") }
        proxy.streamMaxLag = try DurationOption.nanoseconds(
            value(options.streamMaxLag, "DYNAMO_CACHE_STREAM_MAX_LAG") ?? ServeDefaults.streamMaxLag,
            option: "--stream-max-lag")
        guard proxy.streamMaxLag > streamFollower.pollInterval else {
            throw ValidationError("--stream-max-lag must be longer than --stream-poll-interval")
        }
        streamsUpstream.connectTimeout = upstream.connectTimeout
        streamsUpstream.responseTimeout = upstream.responseTimeout
        streamsUpstream.maxIdleConnectionsPerLoop = upstream.maxIdleConnectionsPerLoop
        streamsUpstream.idleTimeout = upstream.idleTimeout
        let level = value(options.logLevel, "DYNAMO_CACHE_LOG_LEVEL") ?? ServeDefaults.logLevel
        guard let logLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw ValidationError("--log-level: unknown level \(level)")
        }
        self.logLevel = logLevel
    }

    /// A certificate and key given together, or neither.
    private static func pair(_ certificate: String?, _ key: String?, certificateOption: String, keyOption: String)
        throws -> (certificate: String, key: String)?
    {
        switch (certificate, key) {
        case (nil, nil): return nil
        case (let certificate?, let key?): return (certificate, key)
        case (.some, nil): throw ValidationError("\(certificateOption) needs \(keyOption)")
        case (nil, .some): throw ValidationError("\(keyOption) needs \(certificateOption)")
        }
    }

    /// Whether the Streams API goes to its own endpoint rather than the storage server's.
    var streamsHaveTheirOwnEndpoint: Bool { streamsUpstream.endpoint != upstream.endpoint }
}

/// The defaults `serve` applies and shows in its help, spelled from the configuration structs that own them
/// (`ProxyConfiguration`, `UpstreamConfiguration`, `DataPlaneConfiguration`): each value is written once.
/// `ops/check-config.sh` checks `ops/dynamo-cache.env` and the README's options table against the help.
enum ServeDefaults {
    private static let proxy = ProxyConfiguration()
    private static let upstream = UpstreamConfiguration(host: "", port: 0)
    private static let dataPlane = DataPlaneConfiguration(host: "", port: 0)

    static let itemCacheSize = ByteSize.text(proxy.itemCacheBytes)
    static let itemTTL = DurationOption.text(nanoseconds: proxy.itemTTL)
    static let negativeTTL = DurationOption.text(nanoseconds: proxy.negativeTTL)
    static let itemMaxSize = ByteSize.text(proxy.maxItemEntryBytes)
    static let queryCacheSize = ByteSize.text(proxy.queryCacheBytes)
    static let queryTTL = DurationOption.text(nanoseconds: proxy.queryTTL)
    static let queryMaxSize = ByteSize.text(proxy.maxQueryEntryBytes)
    static let queryInvalidation = proxy.queryInvalidation.rawValue
    static let rewriteRequests = proxy.rewriteRequests ? "on" : "off"
    static let streams = proxy.streams == nil ? "off" : "auto"
    static let streamPollInterval = DurationOption.text(nanoseconds: StreamFollowerConfiguration().pollInterval)
    static let streamMaxLag = DurationOption.text(nanoseconds: proxy.streamMaxLag)
    static let upstreamConnectTimeout = DurationOption.text(upstream.connectTimeout)
    static let upstreamTimeout = DurationOption.text(upstream.responseTimeout)
    static let upstreamPoolSize = String(upstream.maxIdleConnectionsPerLoop)
    static let upstreamIdleTimeout = DurationOption.text(upstream.idleTimeout)
    static let shutdownGrace = DurationOption.text(dataPlane.shutdownGrace)
    static let clientHeaderTimeout = DurationOption.text(dataPlane.timeouts.header)
    static let clientBodyTimeout = DurationOption.text(dataPlane.timeouts.body)
    static let clientIdleTimeout = DurationOption.text(dataPlane.timeouts.idle)
    static let maxConnections = String(dataPlane.maxConnections)
    static let upstreamMaxInflight = String(proxy.upstreamMaxInflight)
    /// Loopback by default: the data listener is DynamoDB Local's port, the admin listener stays private.
    static let listen = "127.0.0.1:8000"
    static let adminListen = "127.0.0.1:9090"
    static let logLevel = Logger.Level.info.rawValue
}

/// DynamoDB's public endpoints.
enum AWSEndpoints {
    private static func suffix(_ region: String) -> String {
        region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
    }

    static func dynamoDB(_ region: String) -> String { "https://dynamodb.\(region).\(suffix(region))" }

    static func streams(_ region: String) -> String { "https://streams.dynamodb.\(region).\(suffix(region))" }

    /// The region of `dynamodb[-fips].REGION.amazonaws.com[.cn]` (or `streams.dynamodb.…`); nil for other hosts.
    static func region(ofHost host: String) -> String? {
        var labels = host.lowercased().split(separator: ".").map(String.init)
        if labels.first == "streams" { labels.removeFirst() }
        guard labels.count >= 4, labels[0] == "dynamodb" || labels[0] == "dynamodb-fips",
            labels[2] == "amazonaws", labels[3] == "com", labels.count == 4 || (labels.count == 5 && labels[4] == "cn")
        else { return nil }
        return labels[1]
    }
}

/// HOST:PORT as given on the command line (`[::1]:8000` for IPv6).
struct HostPort: CustomStringConvertible {
    var host: String
    var port: Int

    init(parsing text: String, option: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ValidationError("\(option): expected HOST:PORT, got \(text)")
        }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { throw ValidationError("\(option): missing host in \(text)") }
        self.host = String(host)
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// 127.0.0.0/8, ::1 or localhost: reachable from this machine only.
    var isLoopback: Bool {
        host == "localhost" || host == "::1" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4)
    }
}

/// Byte sizes on the command line: `1048576`, `512KiB`, `256MiB`, `2GiB` (KB/MB/GB are read as powers of 1000).
enum ByteSize {
    static func parse(_ text: String, option: String) throws -> Int {
        let units: [(suffix: String, bytes: Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1_000), ("MB", 1_000_000),
            ("GB", 1_000_000_000), ("B", 1), ("", 1),
        ]
        for unit in units where text.hasSuffix(unit.suffix) {
            if let number = Int(text.dropLast(unit.suffix.count)), number >= 0 {
                return number * unit.bytes
            }
        }
        throw ValidationError("\(option): expected a size like 512KiB, 256MiB or 2GiB, got \(text)")
    }

    /// `bytes` in the largest binary unit that divides it (`256MiB`), as `parse` reads it.
    static func text(_ bytes: Int) -> String {
        for (suffix, unit) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes >= unit && bytes % unit == 0 {
            return "\(bytes / unit)\(suffix)"
        }
        return "\(bytes)B"
    }
}

/// `--table-policy TABLE:off` or `TABLE:ttl=30s[,query-ttl=10s]`, one per table.
enum TablePolicyOption {
    static func parse(_ entries: [String]) throws -> [String: TablePolicy] {
        var policies: [String: TablePolicy] = [:]
        for entry in entries.map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts[0]
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ValidationError("--table-policy: \(entry): expected TABLE:off or TABLE:ttl=DURATION")
            }
            guard TableName.isValid(name) else {
                throw ValidationError(
                    "--table-policy: \(entry): \(name) is not a table name ([a-zA-Z0-9_.-], 3 to 255 characters)")
            }
            guard policies[name] == nil else { throw ValidationError("--table-policy: \(name) is given twice") }
            var policy = TablePolicy()
            for rule in parts[1].split(separator: ",").map(String.init) {
                if rule == "off" {
                    policy.cached = false
                } else if rule.hasPrefix("ttl=") {
                    policy.itemTTL = try DurationOption.nanoseconds(
                        String(rule.dropFirst(4)), option: "--table-policy \(name) ttl")
                } else if rule.hasPrefix("query-ttl=") {
                    policy.queryTTL = try DurationOption.nanoseconds(
                        String(rule.dropFirst(10)), option: "--table-policy \(name) query-ttl")
                } else {
                    throw ValidationError(
                        "--table-policy: \(entry): expected off, ttl=DURATION or query-ttl=DURATION, got \(rule)")
                }
            }
            if !policy.cached, policy.itemTTL != nil || policy.queryTTL != nil {
                throw ValidationError("--table-policy: \(entry): a table that is off has no TTL")
            }
            policies[name] = policy
        }
        return policies
    }
}

/// Durations on the command line: `250ms`, `2s`, `5m`, `1h`, or `0`.
enum DurationOption {
    static func nanoseconds(_ text: String, option: String) throws -> UInt64 {
        UInt64(try parse(text, option: option).nanoseconds)
    }

    static func parse(_ text: String, option: String) throws -> TimeAmount {
        let units: [(suffix: String, nanoseconds: Int64)] = [
            ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ]
        if text == "0" { return .zero }
        for unit in units where text.hasSuffix(unit.suffix) {
            if let number = Int64(text.dropLast(unit.suffix.count)), number >= 0 {
                return .nanoseconds(number * unit.nanoseconds)
            }
        }
        throw ValidationError("\(option): expected a duration like 500ms, 2s or 5m, got \(text)")
    }

    /// `duration` in the largest unit that divides it (`5m`, `10s`, `500ms`), as `parse` reads it.
    static func text(_ duration: TimeAmount) -> String {
        let nanoseconds = duration.nanoseconds
        if nanoseconds == 0 { return "0" }
        for (suffix, unit) in [("h", Int64(3_600_000_000_000)), ("m", 60_000_000_000), ("s", 1_000_000_000)]
        where nanoseconds % unit == 0 {
            return "\(nanoseconds / unit)\(suffix)"
        }
        return "\(nanoseconds / 1_000_000)ms"
    }

    static func text(nanoseconds: UInt64) -> String {
        text(.nanoseconds(Int64(clamping: nanoseconds)))
    }
}
