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
    /// Tables with a follower running.
    private let active = Mutex<Set<String>>([])

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

    /// The status of every follower, by table name; one that has not heard of its table yet (nor failed) is
    /// left out, so a name that turns out not to exist never shows.
    package func status() -> [StreamTableStatus] {
        statuses.withLock { Array($0.values) }
            .filter { $0.state != .starting || !$0.flushes.isEmpty || !$0.errors.isEmpty }
            .sorted { $0.table < $1.table }
    }

    package func run() async throws {
        await withDiscardingTaskGroup { group in
            for await table in tables.cancelOnGracefulShutdown() {
                guard active.withLock({ $0.insert(table).inserted }) else { continue }
                group.addTask { [api, delegate, configuration, logger, clock, wallClock] in
                    let follower = TableStreamFollower(
                        table: table, api: api, delegate: delegate, configuration: configuration, logger: logger,
                        clock: clock, wallClock: wallClock)
                    await follower.run(
                        report: { status in self.statuses.withLock { $0[table] = status } },
                        sleep: { try await Task.sleep(for: .nanoseconds($0)) })
                    guard follower.isFinished else { return }
                    // The table does not exist. Forget the follower first, so that the proxy meeting the table
                    // again (after `missing` forgets its gate) starts a new one.
                    self.statuses.withLock { $0[table] = nil }
                    _ = self.active.withLock { $0.remove(table) }
                    delegate.missing(table)
                }
            }
            group.cancelAll()
        }
    }
}
