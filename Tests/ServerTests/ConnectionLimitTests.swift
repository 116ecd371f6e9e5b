import AWSAuth
import FakeServers
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Proxy
import Server
import Testing

/// Client connections that hold the proxy without using it: half-sent heads (slowloris), stalled bodies, idle
/// keep-alive connections, too many connections. Real sockets; the timeouts are short and the bounds on when a
/// connection must be closed generous, so a busy machine passes.
@Suite(.timeLimit(.minutes(1)))
struct ConnectionLimitTests {
    static let okHeaders = [("Content-Type", "application/x-amz-json-1.0"), ("x-amz-crc32", "2745614147")]

    /// A raw connection whose closing by the proxy the test can wait for.
    struct Raw {
        let channel: any Channel

        static func open(_ port: Int, group: any EventLoopGroup, sending bytes: String = "") async throws -> Raw {
            let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
            if !bytes.isEmpty { try await channel.writeAndFlush(ByteBuffer(string: bytes)) }
            return Raw(channel: channel)
        }

        func send(_ bytes: String) async throws { try await channel.writeAndFlush(ByteBuffer(string: bytes)) }

        /// Whether the proxy closed it within `limit`.
        func closedByPeer(within limit: TimeAmount) async -> Bool {
            let closed = NIOLockedValueBox(false)
            channel.closeFuture.whenComplete { _ in closed.withLockedValue { $0 = true } }
            let deadline = NIODeadline.now() + limit
            while NIODeadline.now() < deadline {
                if closed.withLockedValue({ $0 }) { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return closed.withLockedValue { $0 }
        }

        var isOpen: Bool { channel.isActive }

        func close() async { try? await channel.close() }
    }

    private func upstream(_ group: any EventLoopGroup) async throws -> FakeUpstream {
        try await FakeUpstream(group: group) { _, _ in .respond(status: .ok, headers: Self.okHeaders, body: "{}") }
    }

    static let partialHead = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"

    @Test func halfSentHeadsAreClosedAfterTheHeaderTimeoutWhileOthersAreServed() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = try await upstream(group)
        let proxy = try await ProxyHarness.start(
            upstreamPort: fake.port, timeouts: ConnectionTimeouts(header: .seconds(1), idle: .seconds(30)))
        var slow: [Raw] = []
        for _ in 0..<200 { slow.append(try await Raw.open(proxy.port, group: group, sending: Self.partialHead)) }
        // Normal clients are served meanwhile, on connections of their own.
        for _ in 0..<20 { #expect(try await proxy.send().head.status == .ok) }
        for connection in slow { #expect(await connection.closedByPeer(within: .seconds(20))) }
        #expect(proxy.listener.counters.timedOut[ConnectionTimeoutKind.header.rawValue].value == 200)
        #expect(try await proxy.send().head.status == .ok)
        try await proxy.stop()
        try await fake.stop()
        try await group.shutdownGracefully()
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeoutAndABusyOneIsNot() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = try await upstream(group)
        let proxy = try await ProxyHarness.start(
            upstreamPort: fake.port, timeouts: ConnectionTimeouts(header: .seconds(30), idle: .seconds(1)))
        let idle = try await Raw.open(proxy.port, group: group)
        // One that keeps sending requests, each well within the idle timeout of the last answer.
        let busy = try await Raw.open(proxy.port, group: group)
        let request =
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.DescribeLimits\r\n"
            + "Content-Length: 2\r\n\r\n{}"
        for _ in 0..<6 {
            try await busy.send(request)
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(await idle.closedByPeer(within: .seconds(20)))
        #expect(busy.isOpen, "a connection answered 300 ms ago is not idle")
        #expect(await busy.closedByPeer(within: .seconds(20)), "then idle, it is closed too")
        #expect(proxy.listener.counters.timedOut[ConnectionTimeoutKind.idle.rawValue].value == 2)
        try await proxy.stop()
        try await fake.stop()
        try await group.shutdownGracefully()
    }

    @Test func aStalledBodyIsClosedAfterTheBodyTimeoutButASlowSteadyOneIsRead() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = try await upstream(group)
        let proxy = try await ProxyHarness.start(
            upstreamPort: fake.port,
            timeouts: ConnectionTimeouts(header: .seconds(30), body: .seconds(1), idle: .seconds(30)))
        let head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.DescribeLimits\r\n"
        let stalled = try await Raw.open(
            proxy.port, group: group, sending: head + "Content-Length: 100\r\n\r\n{\"a\":")
        let steady = try await Raw.open(proxy.port, group: group, sending: head + "Content-Length: 12\r\n\r\n")
        for chunk in ["{\"", "a\"", ":", " ", "\"b", "c\"", "}", " "] {  // 12 bytes, one read every 300 ms
            try await Task.sleep(for: .milliseconds(300))
            try await steady.send(chunk)
        }
        #expect(await stalled.closedByPeer(within: .seconds(20)))
        #expect(steady.isOpen)
        #expect(proxy.listener.counters.timedOut[ConnectionTimeoutKind.body.rawValue].value == 1)
        #expect(await eventually { fake.received.count == 1 }, "the steady body was read whole and forwarded")
        await steady.close()
        try await proxy.stop()
        try await fake.stop()
        try await group.shutdownGracefully()
    }

    @Test func aRequestAnsweredFromItsHeadStillEndsInTheIdleTimeout() async throws {
        // With client authentication, a request without a signature is refused from its head, before its
        // (empty) body is read: the answer is sent before the request ends.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = try await upstream(group)
        let clients = try ClientCredentials(parsing: "[c]\naws_access_key_id = AKC\naws_secret_access_key = s\n")
        let proxy = try await ProxyHarness.start(
            upstreamPort: fake.port, timeouts: ConnectionTimeouts(header: .seconds(30), idle: .seconds(1)),
            authenticator: ClientAuthenticator(clients: clients, wallClock: { 0 }))
        let refused = try await Raw.open(
            proxy.port, group: group,
            sending: "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
                + "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n")
        #expect(await refused.closedByPeer(within: .seconds(20)), "a connection left with no timer would stay open")
        #expect(proxy.listener.counters.timedOut[ConnectionTimeoutKind.idle.rawValue].value == 1)
        try await proxy.stop()
        try await fake.stop()
        try await group.shutdownGracefully()
    }

    @Test func connectionsBeyondTheLimitAreRefusedAtOnceAndCounted() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = try await upstream(group)
        let proxy = try await ProxyHarness.start(upstreamPort: fake.port, maxConnections: 3)
        var held: [Raw] = []
        for _ in 0..<3 { held.append(try await Raw.open(proxy.port, group: group)) }
        #expect(await eventually { proxy.listener.connectionCount == 3 })  // all three accepted
        let extra = try await Raw.open(proxy.port, group: group)
        #expect(await extra.closedByPeer(within: .seconds(10)))
        #expect(proxy.listener.counters.refused.value == 1)
        #expect(held.allSatisfy { $0.isOpen })
        await held[0].close()
        #expect(await eventually { proxy.listener.connectionCount == 2 })
        let again = try await Raw.open(
            proxy.port, group: group,
            sending: "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.DescribeLimits\r\n"
                + "Content-Length: 2\r\n\r\n{}")
        #expect(await eventually { fake.received.count == 1 }, "a place freed up: its request was forwarded")
        #expect(again.isOpen)
        for connection in held.dropFirst() + [again] { await connection.close() }
        try await proxy.stop()
        try await fake.stop()
        try await group.shutdownGracefully()
    }
}

/// Whether `condition` holds within `limit`, checked every 20 ms.
func eventually(within limit: TimeAmount = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = NIODeadline.now() + limit
    while NIODeadline.now() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
