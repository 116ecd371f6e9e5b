import Logging
import NIOConcurrencyHelpers

/// The proxy's current credentials and their refresh.
///
/// Requests read the credentials in hand without waiting; refreshing happens beside them, ahead of expiry
/// (five minutes before, or halfway through a shorter lifetime), so a request never waits for STS or a metadata
/// endpoint. A failed refresh keeps the credentials in hand while they last and is retried with back-off
/// (1 s doubling to 30 s); its error is kept for `/readyz`, the metrics and the log.
package final class CredentialsCache: Sendable {
    package let provider: any CredentialProvider
    /// Wall-clock Unix seconds; expirations are wall-clock times.
    private let clock: @Sendable () -> Double
    private let state = NIOLockedValueBox(State())

    private struct State {
        var credentials: AWSCredentials?
        var obtainedAt = 0.0
        var lastError: CredentialError?
        var consecutiveFailures = 0
        var failures = 0
        var refreshes = 0
        var lastAttempt = 0.0
    }

    /// A snapshot for monitoring. Holds no secret.
    package struct Status: Sendable, Equatable {
        package var source: String
        /// Unix seconds; nil for long-term keys or when there are no credentials.
        package var expiration: Double?
        package var usable: Bool
        package var lastError: String?
        package var consecutiveFailures: Int
        package var failures: Int
        package var refreshes: Int
    }

    package init(provider: any CredentialProvider, clock: @escaping @Sendable () -> Double) {
        self.provider = provider
        self.clock = clock
    }

    /// The credentials to sign with now; fails when there are none yet or they have expired.
    package func usable() throws(CredentialError) -> AWSCredentials {
        let now = clock()
        let (credentials, lastError) = state.withLockedValue { ($0.credentials, $0.lastError) }
        let cause = lastError.map { ": \($0.message)" } ?? ""
        guard let credentials else {
            throw CredentialError("the proxy has no AWS credentials yet from \(provider.source)\(cause)")
        }
        if let expiration = credentials.expiration, expiration <= now {
            throw CredentialError(
                "the proxy's AWS credentials from \(provider.source) expired and could not be refreshed\(cause)")
        }
        return credentials
    }

    package var status: Status {
        let now = clock()
        return state.withLockedValue { state in
            Status(
                source: provider.source,
                expiration: state.credentials?.expiration,
                usable: state.credentials.map { $0.expiration.map { $0 > now } ?? true } ?? false,
                lastError: state.lastError?.message,
                consecutiveFailures: state.consecutiveFailures,
                failures: state.failures,
                refreshes: state.refreshes
            )
        }
    }

    /// Fetches credentials once and keeps them, or records why not.
    @discardableResult
    package func refresh() async -> Result<AWSCredentials, CredentialError> {
        state.withLockedValue { $0.lastAttempt = clock() }
        do throws(CredentialError) {
            let credentials = try await provider.fetch()
            let now = clock()
            if let expiration = credentials.expiration, expiration <= now {
                // Served already expired (a clock off, a stale agent): a failure, retried with back-off rather than
                // fetched again at once, and the credentials in hand are kept.
                throw CredentialError(
                    "\(provider.source) served credentials that expired \(Int(now - expiration)) s ago (is this "
                        + "machine's clock right?)")
            }
            state.withLockedValue { state in
                state.credentials = credentials
                state.obtainedAt = now
                state.lastError = nil
                state.consecutiveFailures = 0
                state.refreshes += 1
            }
            return .success(credentials)
        } catch {
            state.withLockedValue { state in
                state.lastError = error
                state.consecutiveFailures += 1
                state.failures += 1
            }
            return .failure(error)
        }
    }

    /// When the next fetch is due (Unix seconds); nil when the credentials in hand never expire.
    package func nextRefresh() -> Double? {
        state.withLockedValue { state in
            if state.consecutiveFailures > 0 {
                let backoff = min(30.0, Double(1 << min(state.consecutiveFailures - 1, 5)))
                return state.lastAttempt + backoff
            }
            guard let credentials = state.credentials else { return state.lastAttempt }
            guard let expiration = credentials.expiration else { return nil }
            let lifetime = max(0, expiration - state.obtainedAt)
            return expiration - min(300, lifetime / 2)
        }
    }

    /// Refreshes whenever due until the task is cancelled.
    package func run(logger: Logger) async {
        while !Task.isCancelled {
            guard let due = nextRefresh() else { return }  // long-term keys: nothing to refresh
            let wait = due - clock()
            if wait > 0 {
                do {
                    try await Task.sleep(for: .milliseconds(Int64(min(wait, 3600) * 1000)))
                } catch {
                    return
                }
                continue  // re-check: the clock may have jumped, or a refresh happened meanwhile
            }
            switch await refresh() {
            case .success(let credentials):
                logger.info(
                    "AWS credentials refreshed",
                    metadata: [
                        "source": "\(provider.source)", "accessKeyID": "\(credentials.accessKeyID)",
                        "expiresInSeconds": "\(credentials.expiration.map { Int($0 - clock()) } ?? -1)",
                    ])
            case .failure(let error):
                logger.warning(
                    "AWS credentials refresh failed; retrying",
                    metadata: ["source": "\(provider.source)", "error": "\(error.message)"])
            }
        }
    }
}
