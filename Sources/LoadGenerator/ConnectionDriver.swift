// Design note: how a connection paces and times its requests.
//
// Each connection is driven entirely on its event loop (no task hop, no lock per request): a response arrives,
// is recorded, and the next request is written from the same callback. One request is in flight per connection,
// like wrk, so C connections give concurrency C.
// - Closed loop: the next request is sent as soon as the previous answer arrives; latency runs from the send.
// - Open loop (wrk2's model): connection c of C sends its k-th request at the intended time start + (k + c/C) *
//   C/rate. When the server stalls, later requests are sent late, and their latency still runs from their
//   intended time, so a stall shows up in every request it delayed, not only the one that met it (coordinated
//   omission). Requests still unsent at the end of the phase are counted as `Unsent`.
// Connections that the server closes (moto_server closes every one) are reopened for the next request; the
// connect time is then part of that request's latency, as it is for any client.

import DynamoWire
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Upstream

/// How a phase paces its requests.
package enum Pacing: Sendable, Equatable {
    case closedLoop
    case openLoop(requestsPerSecond: Double)
}

/// Stop conditions and progress shared by every connection of one phase.
final class PhaseControl: Sendable {
    let start: UInt64
    let deadline: UInt64?
    private let budget: Atomic<Int>
    let completed = Atomic<Int>(0)

    init(start: UInt64, duration: TimeAmount?, requests: Int?) {
        self.start = start
        deadline = duration.map { start + UInt64($0.nanoseconds) }
        budget = Atomic(requests ?? Int.max)
    }

    /// Claims one request of the budget; false once it is spent.
    func claimRequest() -> Bool { budget.wrappingSubtract(1, ordering: .relaxed).oldValue > 0 }
}

/// The tally of the connections on one event loop, which only that loop touches.
final class LoopTally {
    var tally = Tally()
    var lastCompletion: UInt64 = 0
}

/// The monotonic clock every latency is measured on.
@inline(__always) func monotonicNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

/// One connection's request loop. Confined to its event loop.
final class ConnectionDriver {
    private let eventLoop: any EventLoop
    private let address: SocketAddress
    private let tls: UpstreamTLS?
    private var encoder: RequestEncoder
    private var generator: RequestGenerator
    private let control: PhaseControl
    private let sink: LoopTally
    private let interval: UInt64?
    private let timeout: TimeAmount
    private let done: EventLoopPromise<Void>

    private var nextIntended: UInt64
    private var channel: (any Channel)?
    /// Bumped whenever a channel is abandoned, so that its late callbacks are ignored.
    private var generation = 0
    /// When the request in flight counts from (its send, or its intended send), if one is in flight.
    private var inFlightOrigin: UInt64?
    /// When the request in flight was sent; the timeout runs from here.
    private var inFlightSentAt: UInt64 = 0
    /// One watchdog per connection, re-armed only when it fires, instead of a timer set and cancelled per
    /// request: at tens of thousands of requests a second the timers alone were a visible share of the CPU.
    private var watchdogArmed = false
    private var finished = false

    init(
        eventLoop: any EventLoop, address: SocketAddress, tls: UpstreamTLS?, encoder: RequestEncoder,
        generator: RequestGenerator, control: PhaseControl, sink: LoopTally, pacing: Pacing, connectionIndex: Int,
        connections: Int, timeout: TimeAmount
    ) {
        self.eventLoop = eventLoop
        self.address = address
        self.tls = tls
        self.encoder = encoder
        self.generator = generator
        self.control = control
        self.sink = sink
        self.timeout = timeout
        done = eventLoop.makePromise()
        switch pacing {
        case .closedLoop:
            interval = nil
            nextIntended = control.start
        case .openLoop(let rate):
            let perConnection = UInt64(1e9 * Double(connections) / rate)
            interval = max(1, perConnection)
            nextIntended = control.start + perConnection * UInt64(connectionIndex) / UInt64(connections)
        }
    }

    /// Starts the loop; the future completes when the connection has stopped.
    func start() -> EventLoopFuture<Void> {
        issueNext()
        return done.futureResult
    }

    private func issueNext() {
        guard !finished else { return }
        let now = monotonicNanoseconds()
        let origin: UInt64
        if let interval {
            if let deadline = control.deadline, nextIntended >= deadline { return finish() }
            if now < nextIntended {
                let bound = NIOLoopBound(self, eventLoop: eventLoop)
                eventLoop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(nextIntended)) {
                    bound.value.issueNext()
                }
                return
            }
            if let deadline = control.deadline, now >= deadline {
                // Behind schedule at the end: what was due but never sent is reported, not dropped silently.
                let unsent = Int((deadline - nextIntended + interval - 1) / interval)
                sink.tally.recordFailure("Unsent", count: unsent)
                return finish()
            }
            origin = nextIntended
            nextIntended += interval
        } else {
            if let deadline = control.deadline, now >= deadline { return finish() }
            origin = now
        }
        guard control.claimRequest() else { return finish() }
        let request = encoder.encode(generator.next(), allocator: ByteBufferAllocator())
        inFlightOrigin = origin
        inFlightSentAt = now
        armWatchdog(deadline: now + UInt64(timeout.nanoseconds))
        if let channel {
            channel.writeAndFlush(request, promise: nil)
        } else {
            connect(then: request)
        }
    }

    private func connect(then request: ByteBuffer) {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let expected = generation
        let tls = self.tls
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // The request is written at once; TLS holds it until the handshake is done.
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ResponseHandler(driver: bound.value, generation: expected))
                }
            }
            .connect(to: address)
            .hop(to: eventLoop)
            .whenComplete { result in
                let driver = bound.value
                switch result {
                case .success(let channel):
                    guard driver.generation == expected, !driver.finished else {
                        channel.close(promise: nil)
                        return
                    }
                    driver.channel = channel
                    channel.writeAndFlush(request, promise: nil)
                case .failure:
                    driver.failed("ConnectionFailed", generation: expected)
                }
            }
    }

    func received(_ response: ParsedResponse, generation: Int) {
        guard generation == self.generation, let origin = inFlightOrigin else { return }
        let now = monotonicNanoseconds()
        inFlightOrigin = nil
        let errorType = response.body.flatMap(UpstreamErrorCode.code(in:))
        sink.tally.record(
            nanoseconds: now &- origin, status: response.status, verdict: response.cacheStatus, errorType: errorType)
        sink.lastCompletion = max(sink.lastCompletion, now)
        control.completed.wrappingAdd(1, ordering: .relaxed)
        if !response.keepAlive { abandonChannel() }
        issueNext()
    }

    func failed(_ kind: String, generation: Int) {
        guard generation == self.generation else { return }
        abandonChannel()
        guard inFlightOrigin != nil else { return }
        inFlightOrigin = nil
        sink.tally.recordFailure(kind)
        // A short pause, so that a refusing or crashing server is not hammered in a tight loop.
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleTask(in: .milliseconds(10)) { bound.value.issueNext() }
    }

    private func armWatchdog(deadline: UInt64) {
        guard !watchdogArmed else { return }
        watchdogArmed = true
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleTask(deadline: .uptimeNanoseconds(deadline)) { bound.value.watchdogFired() }
    }

    private func watchdogFired() {
        watchdogArmed = false
        guard !finished, inFlightOrigin != nil else { return }
        let due = inFlightSentAt + UInt64(timeout.nanoseconds)
        if monotonicNanoseconds() >= due {
            failed("Timeout", generation: generation)
        } else {
            armWatchdog(deadline: due)
        }
    }

    private func abandonChannel() {
        generation += 1
        channel?.close(promise: nil)
        channel = nil
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        abandonChannel()
        done.succeed()
    }
}

/// Parses responses off one channel and hands them to its driver.
final class ResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let driver: ConnectionDriver
    private let generation: Int
    private var parser = ResponseParser()
    private var pending: ByteBuffer?

    init(driver: ConnectionDriver, generation: Int) {
        self.driver = driver
        self.generation = generation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending == nil {
            pending = incoming
        } else {
            pending!.writeBuffer(&incoming)
        }
        do {
            while let response = try parser.next(&pending!) {
                driver.received(response, generation: generation)
            }
            if pending!.readableBytes == 0 { pending = nil } else { pending!.discardReadBytes() }
        } catch {
            pending = nil
            driver.failed("MalformedResponse", generation: generation)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let response = parser.finishAtClose() { driver.received(response, generation: generation) }
        driver.failed("ConnectionClosed", generation: generation)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        driver.failed(
            error is NIOSSLError || error is BoringSSLError ? "TLSRefused" : "ConnectionClosed", generation: generation)
        context.close(promise: nil)
    }
}
