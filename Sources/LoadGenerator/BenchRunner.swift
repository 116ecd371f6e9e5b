import AWSAuth
import DynamoWire
import NIOCore
import NIOPosix
import Synchronization

/// Everything one `bench` run does.
package struct BenchConfiguration: Sendable {
    package var targets: [BenchTarget]
    package var workloads: [Workload]
    package var options = WorkloadOptions()
    package var dataset: Dataset
    /// Measured time per target and workload, split evenly over the rounds; nil: bounded by `requests` only.
    package var duration: TimeAmount?
    /// Requests per target and workload, split evenly over the rounds; nil: bounded by `duration` only.
    package var requests: Int?
    /// Unmeasured time per target and workload before its first round (fills caches, opens connections).
    package var warmup: TimeAmount = .zero
    /// How many times the targets take turns; each round reverses the order of the last, so that neither
    /// always runs first on a machine whose state drifts.
    package var rounds = 3
    package var connections = 8
    package var pacing = Pacing.closedLoop
    package var timeout: TimeAmount = .seconds(10)
    package var credentials: AWSCredentials
    package var region: String
    package var seed: UInt64 = 1
    package var prepare = PrepareMode.auto

    package init(
        targets: [BenchTarget], workloads: [Workload], dataset: Dataset, credentials: AWSCredentials,
        region: String
    ) {
        self.targets = targets
        self.workloads = workloads
        self.dataset = dataset
        self.credentials = credentials
        self.region = region
    }

    /// A problem with the options, in words, or nil.
    package func validationError() -> String? {
        if targets.isEmpty { return "at least one --target is needed" }
        if Set(targets.map(\.name)).count != targets.count { return "target names must differ" }
        if workloads.isEmpty { return "at least one --workload is needed" }
        // Refused before a request is built, so table names never need escaping in the JSON bodies.
        if !TableName.isValid(dataset.table) {
            return "table name \(dataset.table) is not one DynamoDB accepts ([a-zA-Z0-9_.-], 3 to 255 characters)"
        }
        if dataset.items < 1 || dataset.itemBytes < 1 || dataset.partitionSize < 1 {
            return "--items, --item-size and --partition-size must be positive"
        }
        if dataset.itemBytes > 400_000 { return "--item-size must be at most 400000 (DynamoDB's item limit)" }
        if !(1...100).contains(options.batchSize) { return "--batch-size must be between 1 and 100" }
        if options.zipfTheta < 0 { return "--zipf-theta must not be negative" }
        if let requests, requests < rounds { return "--requests must be at least --rounds" }
        if let duration, duration <= .zero { return "--duration must be positive" }
        if rounds < 1 { return "--rounds must be at least 1" }
        if connections < 1 { return "--connections must be at least 1" }
        if case .openLoop(let rate) = pacing, !(rate > 0) { return "--rate must be positive" }
        if duration == nil, requests == nil { return "a run needs --duration or --requests" }
        return nil
    }
}

/// One target's tally of one workload, all rounds merged.
package struct BenchResult: Sendable {
    package var workload: Workload
    package var target: BenchTarget
    package var tally: Tally
    /// What makes the figures mean less than their heading says, in a sentence each (the table and the JSON
    /// show them).
    package var warnings: [String] = []
}

/// A line of progress; `settled` lines (a phase's summary, preparation steps) are worth keeping in a log, the
/// others are superseded a second later.
package struct BenchProgress: Sendable {
    package var line: String
    package var settled: Bool
}

/// Runs the phases of a `bench` run: for each workload, a warm-up of each target, then rounds in which the
/// targets take turns.
package struct BenchRunner: Sendable {
    package let configuration: BenchConfiguration
    private let group: any EventLoopGroup
    /// Called about once a second while a phase runs, and once when it ends, with a line of progress.
    private let progress: (@Sendable (BenchProgress) -> Void)?

    package init(
        configuration: BenchConfiguration, group: any EventLoopGroup,
        progress: (@Sendable (BenchProgress) -> Void)?
    ) {
        self.configuration = configuration
        self.group = group
        self.progress = progress
    }

    private var signer: SigV4Signer {
        SigV4Signer(credentials: configuration.credentials, region: configuration.region)
    }

    /// Prepares the table through the first target, which must share its storage server with the others.
    package func prepareTable() async throws {
        let client = PreparationClient(
            target: configuration.targets[0], signer: signer, group: group, timeout: configuration.timeout)
        let progress = progress
        do {
            try await TablePreparer(client: client, dataset: configuration.dataset) {
                progress?(BenchProgress(line: $0, settled: true))
            }
            .prepare(mode: configuration.prepare)
        } catch {
            await client.client.shutdown()
            throw error
        }
        await client.client.shutdown()
    }

    package func run() async throws -> [BenchResult] {
        var results: [BenchResult] = []
        let rounds = configuration.rounds
        let samplers = Samplers(dataset: configuration.dataset, options: configuration.options)
        for (workloadIndex, workload) in configuration.workloads.enumerated() {
            // get-once reads every key once per target: each target starts its own sweep at a random key.
            var seeds = SplitMix64(seed: configuration.seed &+ UInt64(workloadIndex) &* 0x1000)
            let cursors = configuration.targets.map { _ in
                SharedCursor(start: Int(seeds.next() % UInt64(configuration.dataset.items)))
            }
            var tallies = configuration.targets.map { _ in Tally() }
            if configuration.warmup > .zero {
                for (index, target) in configuration.targets.enumerated() {
                    _ = try await runPhase(
                        target: target, workload: workload, samplers: samplers, cursor: cursors[index],
                        duration: configuration.warmup, requests: nil, seed: seeds.next(),
                        label: "\(workload.rawValue) \(target.name) warm-up")
                }
            }
            for round in 0..<rounds {
                let order = Array(configuration.targets.indices)
                for index in round % 2 == 0 ? order : order.reversed() {
                    let target = configuration.targets[index]
                    let share = configuration.requests.map { total in
                        total / rounds + (round < total % rounds ? 1 : 0)
                    }
                    let tally = try await runPhase(
                        target: target, workload: workload, samplers: samplers, cursor: cursors[index],
                        duration: configuration.duration.map { .nanoseconds($0.nanoseconds / Int64(rounds)) },
                        requests: share, seed: seeds.next(),
                        label: "\(workload.rawValue) \(target.name) round \(round + 1)/\(rounds)")
                    tallies[index].merge(tally)
                }
            }
            for (index, target) in configuration.targets.enumerated() {
                results.append(
                    BenchResult(
                        workload: workload, target: target, tally: tallies[index],
                        warnings: warnings(workload, tally: tallies[index], keysTaken: cursors[index].taken)))
            }
        }
        return results
    }

    /// Why a result may mislead: get-once reading keys twice, an open loop its connections could not carry.
    func warnings(_ workload: Workload, tally: Tally, keysTaken: Int) -> [String] {
        var warnings: [String] = []
        let items = configuration.dataset.items
        if workload == .getOnce, keysTaken > items {
            warnings.append(
                "get-once read \(keysTaken) keys (warm-up included) from a table of \(items) items: "
                    + "\(keysTaken - items) were read a second time, so hits are not all first reads; "
                    + "use --items \(keysTaken) or more, or fewer --requests or a shorter --duration")
        }
        if case .openLoop(let rate) = configuration.pacing, let unsent = tally.errors["Unsent"], unsent > 0 {
            // One request in flight per connection: carrying `rate` takes rate × latency connections.
            let latency = tally.latencies.totalCount == 0 ? 0.01 : tally.latencies.mean / 1e6
            let needed = max(configuration.connections + 1, Int((rate * latency * 2).rounded(.up)))
            warnings.append(
                "the open loop fell behind its rate: \(unsent) requests were never sent, because "
                    + "\(configuration.connections) connections with one request in flight each cannot carry "
                    + "\(Report.rate(rate)) req/s at this latency; try --connections \(needed)")
        }
        return warnings
    }

    /// Runs one target for one phase over `connections` connections spread over the group's event loops.
    package func runPhase(
        target: BenchTarget, workload: Workload, samplers: Samplers, cursor: SharedCursor,
        duration: TimeAmount?, requests: Int?, seed: UInt64, label: String
    ) async throws -> Tally {
        let address = try SocketAddress.makeAddressResolvingHost(target.host, port: target.port)
        let control = PhaseControl(start: monotonicNanoseconds(), duration: duration, requests: requests)
        let loops = Array(group.makeIterator())
        let connections = configuration.connections
        var seeds = SplitMix64(seed: seed)
        var perLoop: [EventLoopFuture<(Tally, UInt64)>] = []
        for (loopIndex, loop) in loops.enumerated() {
            let mine = Array(stride(from: loopIndex, to: connections, by: loops.count))
            guard !mine.isEmpty else { continue }
            let generators = mine.map { _ in
                RequestGenerator(
                    workload: workload, options: configuration.options, dataset: configuration.dataset,
                    samplers: samplers, cursor: cursor, seed: seeds.next())
            }
            let encoder = RequestEncoder(target: target, signer: signer)
            let pacing = configuration.pacing
            let timeout = configuration.timeout
            perLoop.append(
                loop.flatSubmit {
                    let sink = LoopTally()
                    let bound = NIOLoopBound(sink, eventLoop: loop)
                    let finished = zip(mine, generators).map { connection, generator in
                        ConnectionDriver(
                            eventLoop: loop, address: address, tls: target.tls, encoder: encoder,
                            generator: generator,
                            control: control, sink: sink, pacing: pacing, connectionIndex: connection,
                            connections: connections, timeout: timeout
                        ).start()
                    }
                    return EventLoopFuture.andAllSucceed(finished, on: loop).map {
                        (bound.value.tally, bound.value.lastCompletion)
                    }
                })
        }
        let reporter = progress.map { report in
            let previous = Mutex((answers: 0, at: control.start))
            return loops[0].scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
                let answers = control.completed.load(ordering: .relaxed)
                let now = monotonicNanoseconds()
                let (lastAnswers, lastAt) = previous.withLock { last in
                    defer { last = (answers, now) }
                    return last
                }
                let rate = Double(answers - lastAnswers) * 1e9 / Double(max(1, now - lastAt))
                let elapsed = Report.decimal(Double(now - control.start) / 1e9, 1)
                report(
                    BenchProgress(
                        line: "\(label): \(elapsed) s, \(answers) answers, \(Report.rate(rate)) req/s now",
                        settled: false))
            }
        }
        defer { reporter?.cancel() }
        var merged = Tally()
        var lastCompletion = control.start
        for future in perLoop {
            let (tally, last) = try await future.get()
            merged.merge(tally)
            lastCompletion = max(lastCompletion, last)
        }
        merged.elapsedNanoseconds = lastCompletion - control.start
        progress?(BenchProgress(line: Self.summaryLine(label: label, tally: merged), settled: true))
        return merged
    }

    private static func summaryLine(label: String, tally: Tally) -> String {
        "\(label): \(tally.responses) answers in \(Report.decimal(Double(tally.elapsedNanoseconds) / 1e9, 1))"
            + " s, \(Report.rate(tally.throughput)) req/s, p99 "
            + "\(Report.millis(tally.latency(atPercentile: 99))) ms, errors \(tally.errorCount)"
    }
}
