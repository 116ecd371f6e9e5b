import Foundation
import Logging
import NIOCore
import NIOPosix
import Proxy
import Server
import ServiceLifecycle
import Upstream

/// Wires the modules into one running proxy: event loops, storage-server client, proxy, listeners, lifecycle.
struct ProxyProcess {
    let settings: ServeSettings

    func run() async throws {
        let logger = Logger(label: "dynamo-cache")
        let allocator = Jemalloc.version()
        logger.info("allocator", metadata: ["jemalloc": "\(allocator ?? "not linked")"])

        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.threads)
        let upstream = UpstreamClient(configuration: settings.upstream, group: group, logger: logger)
        let proxy = DynamoProxy(storage: upstream, configuration: settings.proxy, logger: logger)

        var router = AdminRouter()
        router.add("GET", "/stats") { _ in
            AdminResponse(
                contentType: "application/json",
                body: AdminStats.json(
                    allocatorVersion: allocator,
                    itemCache: proxy.itemCacheStats(),
                    queryCache: proxy.queryCacheStats()
                )
            )
        }
        router.add("POST", "/flush") { query in
            let table = AdminQuery.value(of: "table", in: query)
            proxy.flush(table: table)
            return AdminResponse(
                contentType: "application/json",
                body: table.map { #"{"flushed":"table","table":\#(AdminStats.quoted($0))}"# + "\n" }
                    ?? #"{"flushed":"all"}"# + "\n"
            )
        }
        let sweeper = PeriodicTask(every: .seconds(1)) { proxy.sweep() }

        let data = HTTPListener.dataPlane(
            DataPlaneConfiguration(
                host: settings.listen.host, port: settings.listen.port, shutdownGrace: settings.shutdownGrace),
            proxy: proxy,
            group: group,
            logger: logger
        )
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
                    services: [.init(service: sweeper), .init(service: admin), .init(service: data)],
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
