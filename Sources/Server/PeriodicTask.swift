import ServiceLifecycle

/// Runs `action` every `interval` until graceful shutdown (cache sweeping, sampling, probing).
package struct PeriodicTask: Service {
    private let interval: Duration
    private let immediately: Bool
    private let action: @Sendable () async -> Void

    /// `immediately`: run once at start instead of waiting a first interval.
    package init(every interval: Duration, immediately: Bool = false, _ action: @escaping @Sendable () async -> Void) {
        self.interval = interval
        self.immediately = immediately
        self.action = action
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            if immediately { await action() }
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                await action()
            }
        }
    }
}
