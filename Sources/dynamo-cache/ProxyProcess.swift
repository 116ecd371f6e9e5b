import AWSAuth
import DynamoWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Proxy
import Server
import ServiceLifecycle
import StreamFollower
import Upstream

/// Wires the modules into one running proxy: event loops, storage-server client, proxy, listeners, lifecycle.
struct ProxyProcess {
    let settings: ServeSettings
    /// The registry the executable bootstrapped swift-metrics with; `/metrics` emits it.
    let registry: PrometheusCollectorRegistry

    func run() async throws {
        let logger = Logger(label: "dynamo-cache")
        let allocator = Jemalloc.version()
        logger.info("allocator", metadata: ["jemalloc": "\(allocator ?? "not linked")"])

        // Files first: they need no event loop, and a bad one stops the start before anything runs.
        let authenticator = try settings.clientCredentialsFile.map { file in
            ClientAuthenticator(
                clients: try ClientCredentialsFile.load(file), wallClock: { Int(Date().timeIntervalSince1970) })
        }
        let dataTLS = try settings.dataTLS.map { try ServerTLS(certificateFile: $0.certificate, keyFile: $0.key) }
        let adminTLS = try settings.adminTLS.map { try ServerTLS(certificateFile: $0.certificate, keyFile: $0.key) }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.threads)
        let credentialsHTTP = CredentialsHTTP(group: group, logger: logger)
        let credentials: CredentialsCache?
        do {
            credentials =
                settings.signsRequests || settings.proxy.streams != nil
                ? try await ProxyCredentials.start(
                    settings: settings, http: credentialsHTTP, logger: logger,
                    purpose: settings.signsRequests ? "--upstream-auth sign" : "--streams") : nil
        } catch {
            await credentialsHTTP.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        let signing = credentials.flatMap { credentials in
            settings.region.map { region in
                UpstreamSigning(
                    signer: RequestSigner(credentials: credentials, region: region),
                    clock: { Int(Date().timeIntervalSince1970) })
            }
        }
        let forwardSigning = settings.signsRequests ? signing : nil
        let upstream = UpstreamClient(
            configuration: settings.upstream, group: group, logger: logger, signing: forwardSigning)
        let streams =
            settings.streamsHaveTheirOwnEndpoint
            ? UpstreamClient(
                configuration: settings.streamsUpstream, group: group, logger: logger, signing: forwardSigning)
            : nil
        // The followers' own clients: signed with the proxy's credentials even when clients' signatures are
        // forwarded.
        let followerClients =
            settings.proxy.streams == nil
            ? nil
            : signing.map { signing in
                (
                    main: UpstreamClient(
                        configuration: settings.upstream, group: group, logger: logger, signing: signing),
                    streams: UpstreamClient(
                        configuration: settings.streamsUpstream, group: group, logger: logger, signing: signing)
                )
            }
        let (newStreamTables, announceStreamTable) = AsyncStream.makeStream(of: String.self)
        if authenticator == nil, !settings.listen.isLoopback {
            if settings.signsRequests {
                logger.warning(
                    "clients are not authenticated: anyone who reaches the data listener acts with the proxy's AWS credentials",
                    metadata: ["listen": "\(settings.listen)"])
            } else if settings.upstream.tls != nil {
                logger.warning(
                    "clients are not authenticated and their signatures are forwarded: cache hits are served by the access key a request names, which only a miss lets the storage server check; use --client-auth sigv4 or --upstream-auth sign",
                    metadata: ["listen": "\(settings.listen)"])
            }
        }
        let proxy = DynamoProxy(
            storage: UpstreamStorage(main: upstream, streams: streams), configuration: settings.proxy, logger: logger,
            authenticator: authenticator, newStreamTable: { announceStreamTable.yield($0) },
            streamNamespace: { [credentials, region = settings.region] in
                // With callers' own signatures, the follower's database is that of its own key and region.
                (try? credentials?.usable()).flatMap { credentials in
                    region.map { Namespace(value: credentials.accessKeyID + "/" + $0) }
                }
            })
        let followers = followerClients.map { clients in
            StreamFollowers(
                api: UpstreamStreamsAPI(main: clients.main, streams: clients.streams, eventLoops: group),
                delegate: ProxyStreamDelegate(proxy: proxy),
                configuration: {
                    var configuration = settings.streamFollower
                    configuration.maxLag = settings.proxy.streamMaxLag
                    return configuration
                }(),
                logger: logger, tables: newStreamTables,
                clock: { NIODeadline.now().uptimeNanoseconds }, wallClock: { Date().timeIntervalSince1970 })
        }
        for table in settings.streamTables { announceStreamTable.yield(table) }

        let data = HTTPListener.dataPlane(
            DataPlaneConfiguration(
                host: settings.listen.host, port: settings.listen.port, shutdownGrace: settings.shutdownGrace,
                tls: dataTLS, timeouts: settings.clientTimeouts, maxConnections: settings.maxConnections),
            proxy: proxy,
            group: group,
            logger: logger
        )
        let monitoring = Monitoring(
            proxy: proxy, registry: registry, allocatorVersion: allocator, credentials: credentials,
            followers: followers, listener: data.counters
        ) {
            data.connectionCount
        }

        var router = AdminRouter()
        router.add("GET", "/") { _ in AdminResponse(contentType: "text/html; charset=utf-8", body: DashboardPage.html) }
        router.add("GET", "/stats") { _ in AdminResponse(contentType: "application/json", body: monitoring.statsJSON())
        }
        router.add("GET", "/metrics") { _ in
            AdminResponse(contentType: "text/plain; version=0.0.4; charset=utf-8", body: monitoring.prometheusText())
        }
        router.add("GET", "/readyz") { _ in
            if let reason = monitoring.notReadyReason {
                return AdminResponse(status: .serviceUnavailable, body: reason + "\n")
            }
            return AdminResponse(body: "ready\n")
        }
        router.add("POST", "/flush") { query in
            let table = AdminQuery.value(of: "table", in: query)
            proxy.flush(table: table)
            return AdminResponse(
                contentType: "application/json",
                body: table.map { #"{"flushed":"table","table":\#(JSONWriter.quoted($0))}"# + "\n" }
                    ?? #"{"flushed":"all"}"# + "\n"
            )
        }
        // Runs once at start too: the first history sample is the zero baseline the next one is measured from.
        let sweeper = PeriodicTask(every: .seconds(1), immediately: true) {
            proxy.sweep()
            monitoring.sample()
        }
        let upstreamSettings = settings.upstream
        let readiness = PeriodicTask(every: .seconds(2), immediately: true) {
            await monitoring.probe(
                host: upstreamSettings.host,
                port: upstreamSettings.port,
                timeout: upstreamSettings.connectTimeout,
                group: group
            )
        }
        let admin = HTTPListener.admin(
            host: settings.admin.host,
            port: settings.admin.port,
            router: router,
            group: group,
            tls: adminTLS,
            logger: logger
        )
        var certificates: [(name: String, tls: ServerTLS)] = []
        if let dataTLS { certificates.append(("data", dataTLS)) }
        if let adminTLS { certificates.append(("admin", adminTLS)) }
        let reloader = HangupReloader(
            clientCredentialsFile: settings.clientCredentialsFile, authenticator: authenticator,
            certificates: certificates, credentials: credentials, logger: logger)
        var background: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: reloader)]
        if let credentials {
            background.append(.init(service: CredentialsRefresher(credentials: credentials, logger: logger)))
        }
        if let followers { background.append(.init(service: followers)) }
        do {
            let dataAddress = try await data.bind()
            let adminAddress = try await admin.bind()
            let upstreamURL = settings.upstream.endpoint.url
            let announcement = ReadyLine(
                line: "dynamo-cache ready: data=\(Self.url(dataAddress, tls: dataTLS != nil)) "
                    + "admin=\(Self.url(adminAddress, tls: adminTLS != nil))",
                logger: logger,
                metadata: [
                    "upstream": "\(upstreamURL)",
                    "upstreamAuth": "\(settings.signsRequests ? "sign" : "forward")",
                    "clientAuth": "\(authenticator == nil ? "none" : "sigv4")", "threads": "\(settings.threads)",
                    "streams":
                        "\(settings.proxy.streams == nil ? "off" : settings.streamTables.isEmpty ? "auto" : settings.streamTables.joined(separator: ","))",
                ]
            )
            let services = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    // Stopped in reverse order: the data listener drains first, credentials stay fresh until the end.
                    services: background + [
                        .init(service: sweeper), .init(service: readiness), .init(service: admin), .init(service: data),
                        .init(service: announcement),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await services.run()
        } catch {
            await upstream.shutdown()
            await streams?.shutdown()
            await credentialsHTTP.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        await upstream.shutdown()
        await streams?.shutdown()
        await followerClients?.main.shutdown()
        await followerClients?.streams.shutdown()
        await credentialsHTTP.shutdown()
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// The one line on stdout that scripts and tests wait for (port 0 resolved), printed from inside the service
    /// group: by then the group handles SIGTERM, so a stop right after the line drains instead of killing.
    struct ReadyLine: Service {
        let line: String
        let logger: Logger
        let metadata: Logger.Metadata

        func run() async throws {
            print(line)
            fflush(nil)  // all streams: `stdout` itself is not concurrency-safe to name
            logger.info("proxy ready", metadata: metadata)
            // A service that returns ends the group: stay until shutdown.
            try? await gracefulShutdown()
        }
    }

    private static func url(_ address: SocketAddress, tls: Bool) -> String {
        let host = address.ipAddress ?? "localhost"
        let port = address.port ?? 0
        let scheme = tls ? "https" : "http"
        return host.contains(":") ? "\(scheme)://[\(host)]:\(port)" : "\(scheme)://\(host):\(port)"
    }
}
