import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import Proxy
import Server
import ServiceLifecycle
import Upstream

/// `dynamo-cache serve`: runs the proxy until SIGTERM or SIGINT, then drains in-flight requests.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the proxy in front of a DynamoDB-compatible storage server."
    )

    @Option(
        help:
            "Address for DynamoDB clients, HOST:PORT; port 0 picks a free one. Env DYNAMO_CACHE_LISTEN. Default 127.0.0.1:8000 (DynamoDB Local's port, what local clients expect)."
    )
    var listen: String?

    @Option(
        help:
            "The storage server, http://HOST:PORT (real DynamoDB endpoint or moto_server). Env DYNAMO_CACHE_UPSTREAM. Default http://127.0.0.1:8001."
    )
    var upstream: String?

    @Option(
        help:
            "Address of the admin endpoints (/healthz, /stats), HOST:PORT; keep it private. Env DYNAMO_CACHE_ADMIN_LISTEN. Default 127.0.0.1:9090."
    )
    var adminListen: String?

    @Option(
        help:
            "Time allowed to connect to the storage server (e.g. 2s, 500ms). Past it the client gets ServiceUnavailable (503). Env DYNAMO_CACHE_UPSTREAM_CONNECT_TIMEOUT. Default 2s."
    )
    var upstreamConnectTimeout: String?

    @Option(
        help:
            "Time the storage server may take to answer. Past it the client gets InternalServerError (500). Env DYNAMO_CACHE_UPSTREAM_TIMEOUT. Default 10s."
    )
    var upstreamTimeout: String?

    @Option(
        help:
            "Event-loop threads serving clients and the storage server. Env DYNAMO_CACHE_THREADS. Default: one per core."
    )
    var threads: Int?

    @Option(
        help:
            "Time in-flight requests get to finish after SIGTERM/SIGINT. Env DYNAMO_CACHE_SHUTDOWN_GRACE. Default 10s.")
    var shutdownGrace: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical. Env DYNAMO_CACHE_LOG_LEVEL. Default info.")
    var logLevel: String?

    func run() async throws {
        let settings = try ServeSettings(self, environment: ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        try await ProxyProcess(settings: settings).run()
    }
}

/// The options of `serve` resolved against the environment and defaults, and validated.
struct ServeSettings {
    var listen: HostPort
    var upstream: UpstreamConfiguration
    var admin: HostPort
    var threads: Int
    var shutdownGrace: TimeAmount
    var logLevel: Logger.Level

    init(_ options: Serve, environment: [String: String]) throws {
        func value(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        listen = try HostPort(
            parsing: value(options.listen, "DYNAMO_CACHE_LISTEN") ?? "127.0.0.1:8000", option: "--listen")
        admin = try HostPort(
            parsing: value(options.adminListen, "DYNAMO_CACHE_ADMIN_LISTEN") ?? "127.0.0.1:9090",
            option: "--admin-listen"
        )
        let url = value(options.upstream, "DYNAMO_CACHE_UPSTREAM") ?? "http://127.0.0.1:8001"
        let endpoint: (host: String, port: Int)
        do {
            endpoint = try UpstreamConfiguration.parseURL(url)
        } catch {
            throw ValidationError("--upstream: \(error)")
        }
        upstream = UpstreamConfiguration(host: endpoint.host, port: endpoint.port)
        upstream.connectTimeout = try DurationOption.parse(
            value(options.upstreamConnectTimeout, "DYNAMO_CACHE_UPSTREAM_CONNECT_TIMEOUT") ?? "2s",
            option: "--upstream-connect-timeout"
        )
        upstream.responseTimeout = try DurationOption.parse(
            value(options.upstreamTimeout, "DYNAMO_CACHE_UPSTREAM_TIMEOUT") ?? "10s",
            option: "--upstream-timeout"
        )
        shutdownGrace = try DurationOption.parse(
            value(options.shutdownGrace, "DYNAMO_CACHE_SHUTDOWN_GRACE") ?? "10s",
            option: "--shutdown-grace"
        )
        if let threads = options.threads {
            self.threads = threads
        } else if let text = environment["DYNAMO_CACHE_THREADS"], !text.isEmpty {
            guard let threads = Int(text) else { throw ValidationError("DYNAMO_CACHE_THREADS: not a number: \(text)") }
            self.threads = threads
        } else {
            threads = System.coreCount
        }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        let level = value(options.logLevel, "DYNAMO_CACHE_LOG_LEVEL") ?? "info"
        guard let logLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw ValidationError("--log-level: unknown level \(level)")
        }
        self.logLevel = logLevel
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
}

/// Durations on the command line: `250ms`, `2s`, `5m`, `1h`, or `0`.
enum DurationOption {
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
}
