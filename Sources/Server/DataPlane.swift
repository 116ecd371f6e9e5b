import Logging
import NIOCore
import NIOHTTP1
import Proxy

/// Settings of the data-plane listener.
package struct DataPlaneConfiguration: Sendable {
    package var host: String
    package var port: Int
    /// DynamoDB refuses request bodies over 16 MB; so does the proxy, before reading them.
    package var maxRequestBytes: Int
    /// How long in-flight requests may take to finish after SIGTERM before their connections are closed.
    package var shutdownGrace: TimeAmount
    /// TLS for clients (`--tls-cert`, `--tls-key`); nil for plain HTTP.
    package var tls: ServerTLS?
    /// Client connection timeouts (`--client-header-timeout`, `--client-body-timeout`, `--client-idle-timeout`).
    package var timeouts: ConnectionTimeouts
    /// Open client connections beyond which new ones are refused (`--max-connections`).
    package var maxConnections: Int

    package init(
        host: String,
        port: Int,
        maxRequestBytes: Int = 16 * 1024 * 1024,
        shutdownGrace: TimeAmount = .seconds(10),
        tls: ServerTLS? = nil,
        timeouts: ConnectionTimeouts = ConnectionTimeouts(),
        maxConnections: Int = 10_000
    ) {
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.host = host
        self.port = port
        self.maxRequestBytes = maxRequestBytes
        self.shutdownGrace = shutdownGrace
        self.tls = tls
    }
}

extension HTTPListener {
    /// The DynamoDB-facing listener: every connection gets the HTTP/1 codec and the data-plane handler.
    package static func dataPlane(
        _ configuration: DataPlaneConfiguration,
        proxy: DynamoProxy,
        group: any EventLoopGroup,
        logger: Logger
    ) -> HTTPListener {
        let maxRequestBytes = configuration.maxRequestBytes
        return HTTPListener(
            name: "data",
            host: configuration.host,
            port: configuration.port,
            group: group,
            shutdownGrace: configuration.shutdownGrace,
            tls: configuration.tls,
            timeouts: configuration.timeouts,
            maxConnections: configuration.maxConnections,
            logger: logger
        ) { channel, timer in
            try addDataPlaneHTTP(
                to: channel.pipeline.syncOperations, proxy: proxy, maxRequestBytes: maxRequestBytes, timer: timer)
        }
    }

    /// The data plane's HTTP/1 server side: NIO's request decoder, then the handler that answers and encodes.
    static func addDataPlaneHTTP(
        to pipeline: ChannelPipeline.SynchronousOperations,
        proxy: DynamoProxy,
        maxRequestBytes: Int,
        timer: ConnectionTimer?
    ) throws {
        try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try pipeline.addHandler(DataPlaneHandler(proxy: proxy, maxRequestBytes: maxRequestBytes, timer: timer))
    }
}
