import NIOCore
import Synchronization

/// Concurrent misses on one key share one upstream request: the first caller leads and fetches, later callers
/// wait for the leader's outcome. Striped like the stores, so unrelated keys never wait on one lock; a flight
/// exists only while its request is in flight.
final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    enum Role {
        /// Fetch, then call ``complete(_:with:)``.
        case leader
        /// Wait for the leader's outcome (completes on the follower's event loop).
        case follower(EventLoopFuture<Value>)
    }

    private final class Stripe: Sendable {
        let flights = Mutex<[Key: [EventLoopPromise<Value>]]>([:])
    }

    private let stripes: [Stripe]

    init(stripes: Int = 16) {
        self.stripes = (0..<stripes).map { _ in Stripe() }
    }

    private func stripe(_ key: Key) -> Stripe {
        stripes[Int(UInt(bitPattern: key.hashValue) % UInt(stripes.count))]
    }

    /// Joins the flight for `key`, starting it when there is none.
    func join(_ key: Key, on eventLoop: any EventLoop) -> Role {
        stripe(key).flights.withLock { flights in
            guard flights[key] != nil else {
                flights[key] = []
                return .leader
            }
            let promise = eventLoop.makePromise(of: Value.self)
            flights[key]!.append(promise)
            return .follower(promise.futureResult)
        }
    }

    /// Ends the flight for `key`, handing `value` to every follower.
    func complete(_ key: Key, with value: Value) {
        let followers = stripe(key).flights.withLock { $0.removeValue(forKey: key) } ?? []
        for follower in followers { follower.succeed(value) }
    }
}
