import Logging
import ServiceLifecycle
import Synchronization

/// The followers of every table whose stream is followed: one task each, started when `tables` first names the
/// table (the proxy announces each table in scope when it first meets it; `--streams TABLE,...` at start too),
/// all stopped at graceful shutdown.
package final class StreamFollowers: Service, Sendable {
    private let api: any StreamsAPI
    private let delegate: any StreamFollowerDelegate
    private let configuration: StreamFollowerConfiguration
    private let logger: Logger
    private let clock: @Sendable () -> UInt64
    private let wallClock: @Sendable () -> Double
    private let tables: AsyncStream<String>
    private let statuses = Mutex<[String: StreamTableStatus]>([:])

    package init(
        api: any StreamsAPI, delegate: any StreamFollowerDelegate, configuration: StreamFollowerConfiguration,
        logger: Logger, tables: AsyncStream<String>, clock: @escaping @Sendable () -> UInt64,
        wallClock: @escaping @Sendable () -> Double
    ) {
        self.api = api
        self.delegate = delegate
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.wallClock = wallClock
        self.tables = tables
    }

    /// Every follower's status, by table name.
    package func status() -> [StreamTableStatus] {
        statuses.withLock { Array($0.values) }.sorted { $0.table < $1.table }
    }

    package func run() async throws {
        await withDiscardingTaskGroup { group in
            var started: Set<String> = []
            for await table in tables.cancelOnGracefulShutdown() where started.insert(table).inserted {
                statuses.withLock { $0[table] = StreamTableStatus(table: table) }
                group.addTask { [api, delegate, configuration, logger, clock, wallClock] in
                    let follower = TableStreamFollower(
                        table: table, api: api, delegate: delegate, configuration: configuration, logger: logger,
                        clock: clock, wallClock: wallClock)
                    await follower.run(
                        report: { status in self.statuses.withLock { $0[table] = status } },
                        sleep: { try await Task.sleep(for: .nanoseconds($0)) })
                }
            }
            group.cancelAll()
        }
    }
}
