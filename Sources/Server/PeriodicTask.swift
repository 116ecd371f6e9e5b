import ServiceLifecycle

/// Runs `action` every `interval` until graceful shutdown (cache sweeping and similar upkeep).
package struct PeriodicTask: Service {
    private let interval: Duration
    private let action: @Sendable () -> Void

    package init(every interval: Duration, _ action: @escaping @Sendable () -> Void) {
        self.interval = interval
        self.action = action
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                action()
            }
        }
    }
}
