import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Proxy
import ServiceLifecycle

/// A TCP listener for HTTP/1.1 that drains on graceful shutdown: it stops accepting, lets every connection
/// finish the request it is serving (the connection's HTTP handler closes idle ones on `ChannelShouldQuiesceEvent`:
/// DataPlaneHandler on the data plane, NIO's HTTPServerPipelineHandler on admin),
/// and force-closes what is left after `shutdownGrace`.
package final class HTTPListener: Service, Sendable {
    /// Sets up the HTTP/1 handlers of an accepted connection (after TLS), given its timer when the listener has
    /// timeouts: the handler that sees requests and answers must move the timer through them
    /// (``addStandardHTTP(to:timer:)`` does, for NIO's codec).
    package typealias ConnectionInitializer = @Sendable (any Channel, ConnectionTimer?) throws -> Void

    private let name: String
    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    private let shutdownGrace: TimeAmount
    /// TLS on accepted connections; nil for plain HTTP.
    package let tls: ServerTLS?
    private let initializer: ConnectionInitializer
    private let logger: Logger
    /// Client connection timeouts; nil: none.
    private let timeouts: ConnectionTimeouts?
    /// Connections beyond this many are closed as soon as they are accepted; nil: no limit.
    private let maxConnections: Int?
    /// Connections refused by the limit and closed by each timeout, since start.
    package let counters = ListenerCounters()
    private let state = NIOLockedValueBox(State())

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var drained: EventLoopPromise<Void>?
    }

    package init(
        name: String,
        host: String,
        port: Int,
        group: any EventLoopGroup,
        shutdownGrace: TimeAmount,
        tls: ServerTLS? = nil,
        timeouts: ConnectionTimeouts? = nil,
        maxConnections: Int? = nil,
        logger: Logger,
        initializer: @escaping ConnectionInitializer
    ) {
        self.tls = tls
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.name = name
        self.host = host
        self.port = port
        self.group = group
        self.shutdownGrace = shutdownGrace
        self.logger = logger
        self.initializer = initializer
    }

    /// Connections open now.
    package var connectionCount: Int {
        state.withLockedValue { $0.connections.count }
    }

    /// Binds the socket and starts accepting; returns the bound address (port 0 picks a free port).
    package func bind() async throws -> SocketAddress {
        let initializer = self.initializer
        let tls = self.tls
        let channel: any Channel
        do {
            channel = try await bootstrap(initializer: initializer, tls: tls)
        } catch {
            throw ListenerError(
                listener: name, address: "\(host.contains(":") ? "[\(host)]" : host):\(port)", error: error)
        }
        state.withLockedValue { $0.serverChannel = channel }
        guard let address = channel.localAddress else { throw ChannelError.unknownLocalAddress }
        logger.info("listening", metadata: ["listener": "\(name)", "address": "\(address)", "tls": "\(tls != nil)"])
        return address
    }

    private func bootstrap(initializer: @escaping ConnectionInitializer, tls: ServerTLS?) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard admit(channel) else { throw ListenerRefusal.tooManyConnections }
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(tls.makeHandler())
                    }
                    let timer = timeouts.map { timeouts in
                        ConnectionTimer(timeouts: timeouts) { [counters] in counters.timedOut[$0.rawValue].add() }
                    }
                    if let timer { try channel.pipeline.syncOperations.addHandler(RequestStartHandler(timer: timer)) }
                    try initializer(channel, timer)
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Serves until graceful shutdown, then drains. `bind()` must have been called.
    package func run() async throws {
        guard let channel = state.withLockedValue({ $0.serverChannel }) else {
            preconditionFailure("HTTPListener.run() before bind()")
        }
        // Cancellation (the group ending because another service failed) closes the listener too: waiting on
        // the close future alone would never return.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        await drain(on: channel.eventLoop)
    }

    /// Tracks an accepted connection, unless the listener already holds `maxConnections`: then it is refused
    /// (closed at once, before anything is read from it) and counted.
    private func admit(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = state.withLockedValue { state in
            if let maxConnections, state.connections.count >= maxConnections { return false }
            state.connections[id] = channel
            return true
        }
        guard admitted else {
            counters.refused.add()
            return false
        }
        channel.closeFuture.whenComplete { [self] _ in
            let drained = state.withLockedValue { state -> EventLoopPromise<Void>? in
                state.connections[id] = nil
                guard state.connections.isEmpty, let drained = state.drained else { return nil }
                state.drained = nil
                return drained
            }
            drained?.succeed()
        }
        return true
    }

    private func drain(on eventLoop: any EventLoop) async {
        let promise = eventLoop.makePromise(of: Void.self)
        let open = state.withLockedValue { state -> [any Channel] in
            if !state.connections.isEmpty { state.drained = promise }
            return Array(state.connections.values)
        }
        if open.isEmpty {
            promise.succeed()
        } else {
            logger.info("draining", metadata: ["listener": "\(name)", "connections": "\(open.count)"])
            for connection in open {
                connection.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
        let deadline = eventLoop.scheduleTask(in: shutdownGrace) { [self] in
            let left = state.withLockedValue { Array($0.connections.values) }
            if !left.isEmpty {
                logger.warning(
                    "closing connections after the shutdown grace period", metadata: ["count": "\(left.count)"])
            }
            for connection in left { connection.close(promise: nil) }
        }
        try? await promise.futureResult.get()
        deadline.cancel()
    }
}

extension HTTPListener {
    /// NIO's HTTP/1 server codec with its pipelining handler, and the timer behind it: for a listener whose
    /// answers are few and small (admin). The data plane has its own (``DataPlaneHandler``).
    package static func addStandardHTTP(to channel: any Channel, timer: ConnectionTimer?) throws {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: true,
            withErrorHandling: false,
            withOutboundHeaderValidation: false  // the handlers compose every header themselves
        )
        if let timer { try channel.pipeline.syncOperations.addHandler(RequestTimeoutHandler(timer: timer)) }
    }
}

/// A listener's counters, read when metrics are scraped.
package final class ListenerCounters: Sendable {
    /// Connections refused: the listener held `maxConnections`.
    package let refused = AtomicCounter()
    /// Connections closed by each timeout, by `ConnectionTimeoutKind.rawValue`.
    package let timedOut = ConnectionTimeoutKind.allCases.map { _ in AtomicCounter() }
}

enum ListenerRefusal: Error {
    case tooManyConnections
}

/// A listener that could not bind, naming which one, its address and why in plain words.
package struct ListenerError: Error, CustomStringConvertible {
    package var listener: String
    package var address: String
    package var error: any Error

    package var description: String {
        let text = "\(error)"
        let reason: String
        if text.contains("Address already in use") || text.contains("errno: 98") {
            reason = "the address is already in use (another process listens there)"
        } else if text.contains("Permission denied") || text.contains("errno: 13") {
            reason = "permission denied (ports below 1024 need privileges)"
        } else if text.contains("Cannot assign requested address") || text.contains("errno: 99") {
            reason = "no interface of this machine has that address"
        } else {
            reason = text
        }
        return "cannot listen on \(address) (the \(listener) listener): \(reason)"
    }
}
