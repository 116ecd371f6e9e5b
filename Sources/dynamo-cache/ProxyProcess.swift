import DynamoWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Proxy
import Server
import ServiceLifecycle
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

        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.threads)
        let upstream = UpstreamClient(configuration: settings.upstream, group: group, logger: logger)
        let proxy = DynamoProxy(storage: upstream, configuration: settings.proxy, logger: logger)

        let data = HTTPListener.dataPlane(
            DataPlaneConfiguration(
                host: settings.listen.host, port: settings.listen.port, shutdownGrace: settings.shutdownGrace),
            proxy: proxy,
            group: group,
            logger: logger
        )
        let monitoring = Monitoring(proxy: proxy, registry: registry, allocatorVersion: allocator) {
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
            monitoring.isUpstreamReady
                ? AdminResponse(body: "ready\n")
                : AdminResponse(status: .serviceUnavailable, body: "storage server unreachable\n")
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
            logger: logger
        )
        do {
            let dataAddress = try await data.bind()
            let adminAddress = try await admin.bind()
            // One line on stdout once both listeners accept: scripts and tests wait for it (port 0 resolved).
            print("dynamo-cache ready: data=\(Self.url(dataAddress)) admin=\(Self.url(adminAddress))")
            fflush(nil)  // all streams: `stdout` itself is not concurrency-safe to name
            logger.info(
                "proxy ready",
                metadata: [
                    "upstream": "\(settings.upstream.host):\(settings.upstream.port)", "threads": "\(settings.threads)",
                ]
            )
            let services = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [
                        .init(service: sweeper), .init(service: readiness), .init(service: admin), .init(service: data),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await services.run()
        } catch {
            await upstream.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        await upstream.shutdown()
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    private static func url(_ address: SocketAddress) -> String {
        let host = address.ipAddress ?? "localhost"
        let port = address.port ?? 0
        return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
}
