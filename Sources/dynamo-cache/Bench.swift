import AWSAuth
import ArgumentParser
import Foundation
import LoadGenerator
import NIOCore
import NIOPosix

/// `dynamo-cache bench`: latency and throughput of DynamoDB endpoints (the proxy, the storage server, DAX's
/// HTTP peers) under the same workload, measured in alternation in one run.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure latency and throughput of DynamoDB endpoints, side by side.",
        discussion: """
            Prepares a table (unless --prepare never), then for each workload warms up and measures every \
            target, the targets taking turns over --rounds rounds. Prints a table with p50/p90/p99/p99.9/max, \
            errors by type, the hit ratio from the proxy's x-dynamo-cache header, and every target's ratio to \
            the first. Requests are signed with SigV4 from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / \
            AWS_SESSION_TOKEN / AWS_REGION (placeholders when unset: moto_server and the proxy do not check \
            signatures). All targets must front the same storage server: the table is prepared through the first.
            Example: dynamo-cache bench --target direct=http://127.0.0.1:8001 --target proxy=http://127.0.0.1:8000
            """
    )

    @Option(
        name: .customLong("target"),
        help:
            "An endpoint to measure, NAME=http://HOST:PORT or NAME=https://HOST:PORT; repeat to compare. The first is the baseline of the ratios and prepares the table. Default proxy=http://127.0.0.1:8000."
    )
    var targets: [String] = []

    @Option(
        name: .customLong("workload"),
        help:
            "What to send; repeat for several: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")). Default get. Or alone: staleness (one writer, readers polling every target: how long until each target returns a write; see --writer)."
    )
    var workloads: [String] = []

    @Option(
        help:
            "Measured time per target and workload, split over the rounds (e.g. 10s, 500ms). Default 10s unless --requests is given."
    )
    var duration: String?

    @Option(help: "Requests per target and workload, split over the rounds; with --duration, whichever ends first.")
    var requests: Int?

    @Option(help: "Unmeasured warm-up per target and workload before its first round.")
    var warmup = "2s"

    @Option(help: "How many times the targets take turns, each round in the reverse order of the last.")
    var rounds = 3

    @Option(help: "Concurrent connections per target, one request in flight on each.")
    var connections = 8

    @Option(
        help:
            "Open loop: total requests per second per target, at fixed intended send times; latency counts from the intended time (no coordinated omission). Default: closed loop."
    )
    var rate: Double?

    @Option(help: "Event-loop threads of the load generator; pin the generator with taskset, apart from the server.")
    var threads = 1

    @Option(help: "Time a request may take before it counts as a Timeout error.")
    var timeout = "10s"

    @Option(help: "The table to use.")
    var table = "dynamo-cache-bench"

    @Option(help: "Items in the table.")
    var items = 10_000

    @Option(help: "Approximate size of each item in bytes.")
    var itemSize = 200

    @Option(help: "Items per partition key (what a query workload reads).")
    var partitionSize = 10

    @Option(help: "Key popularity: zipf or uniform.")
    var keys = "zipf"

    @Option(help: "Skew of the Zipf distribution.")
    var zipfTheta = 0.99

    @Option(help: "Keys per BatchGetItem in the batch-get workload (1 to 100).")
    var batchSize = 10

    @Option(help: "Write of the mix workloads: put (PutItem) or update (UpdateItem).")
    var write = "put"

    @Option(
        help:
            "auto: create and load the table unless it already holds this dataset; always: load it again; never: use it as it is."
    )
    var prepare = "auto"

    @Option(help: "Seed of every random choice, so that runs can be repeated.")
    var seed: UInt64 = 1

    @Option(help: "AWS access key id. Default: AWS_ACCESS_KEY_ID, else a placeholder.")
    var accessKeyId: String?

    @Option(help: "AWS secret access key. Default: AWS_SECRET_ACCESS_KEY, else a placeholder.")
    var secretAccessKey: String?

    @Option(help: "AWS session token. Default: AWS_SESSION_TOKEN, if set.")
    var sessionToken: String?

    @Option(help: "Region signed into requests. Default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.")
    var region: String?

    @Option(help: "PEM file of a private CA to trust for https:// targets, besides the system trust store.")
    var caFile: String?

    @Option(
        help:
            "staleness: the target the writes go through (its name; give the storage server as a target to write straight to it). Default: the first."
    )
    var writer: String?

    @Option(help: "staleness: writes per second.")
    var writeRate = 20.0

    @Option(help: "staleness: distinct keys written and read.")
    var stalenessKeys = 20

    @Option(help: "staleness: a read older than a write acknowledged this long before it began counts as stale.")
    var stalenessBound = "1s"

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Option(help: "Also write a self-contained HTML report with a latency-by-percentile plot to this file.")
    var html: String?

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    func run() async throws {
        if workloads.contains("staleness") {
            try await runStaleness()
            return
        }
        let configuration = try makeConfiguration()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let progress: (@Sendable (BenchProgress) -> Void)? = quiet ? nil : { @Sendable in Bench.printProgress($0) }
        let runner = BenchRunner(configuration: configuration, group: group, progress: progress)
        let startedAt = Date()
        let results: [BenchResult]
        do {
            try await runner.prepareTable()
            results = try await runner.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        let report = Report(configuration: configuration, results: results, startedAt: startedAt)
        print(report.text(), terminator: "")
        if let json {
            try report.json().write(to: URL(fileURLWithPath: json))
        }
        if let html {
            try Data(report.html().utf8).write(to: URL(fileURLWithPath: html))
        }
    }

    /// `--target`s, or the default one.
    private func parsedTargets() throws -> [BenchTarget] {
        do {
            return try (targets.isEmpty ? ["proxy=http://127.0.0.1:8000"] : targets).map {
                try BenchTarget(parsing: $0, caFile: caFile)
            }
        } catch {
            throw ValidationError("--target: \(error)")
        }
    }

    /// What requests are signed with, from the flags, else the environment, else placeholders.
    private func signing() -> (credentials: AWSCredentials, region: String) {
        let environment = ProcessInfo.processInfo.environment
        let credentials = AWSCredentials(
            accessKeyID: accessKeyId ?? environment["AWS_ACCESS_KEY_ID"] ?? "dynamo-cache-bench",
            secretAccessKey: secretAccessKey ?? environment["AWS_SECRET_ACCESS_KEY"] ?? "dynamo-cache-bench",
            sessionToken: sessionToken ?? environment["AWS_SESSION_TOKEN"]
        )
        return (credentials, region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1")
    }

    private func makeConfiguration() throws -> BenchConfiguration {
        let parsedTargets = try parsedTargets()
        let parsedWorkloads = try (workloads.isEmpty ? ["get"] : workloads).map { name in
            guard let workload = Workload(rawValue: name) else {
                throw ValidationError(
                    "--workload: unknown \(name); one of \(Workload.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return workload
        }
        guard let distribution = KeyDistribution(rawValue: keys) else {
            throw ValidationError("--keys: expected zipf or uniform, got \(keys)")
        }
        guard let writeKind = WriteKind(rawValue: write) else {
            throw ValidationError("--write: expected put or update, got \(write)")
        }
        guard let prepareMode = PrepareMode(rawValue: prepare) else {
            throw ValidationError("--prepare: expected auto, always or never, got \(prepare)")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        let (credentials, region) = signing()
        var configuration = BenchConfiguration(
            targets: parsedTargets,
            workloads: parsedWorkloads,
            dataset: Dataset(table: table, items: items, itemBytes: itemSize, partitionSize: partitionSize),
            credentials: credentials,
            region: region
        )
        configuration.options = WorkloadOptions(
            distribution: distribution, zipfTheta: zipfTheta, batchSize: batchSize, writeKind: writeKind)
        configuration.requests = requests
        configuration.duration =
            try duration.map { try DurationOption.parse($0, option: "--duration") }
            ?? (requests == nil ? .seconds(10) : nil)
        configuration.warmup = try DurationOption.parse(warmup, option: "--warmup")
        configuration.timeout = try DurationOption.parse(timeout, option: "--timeout")
        configuration.rounds = rounds
        configuration.connections = connections
        configuration.pacing = rate.map { .openLoop(requestsPerSecond: $0) } ?? .closedLoop
        configuration.seed = seed
        configuration.prepare = prepareMode
        if let problem = configuration.validationError() { throw ValidationError(problem) }
        return configuration
    }

    /// The staleness workload: its own kind of run, not rounds of throughput.
    private func runStaleness() async throws {
        guard workloads == ["staleness"] else { throw ValidationError("--workload staleness runs alone") }
        let parsed = try parsedTargets()
        let writerIndex =
            try writer.map { name in
                guard let index = parsed.firstIndex(where: { $0.name == name }) else {
                    throw ValidationError("--writer: no target is named \(name)")
                }
                return index
            } ?? 0
        guard writeRate > 0, stalenessKeys > 0, connections > 0 else {
            throw ValidationError("--write-rate, --staleness-keys and --connections must be positive")
        }
        let (credentials, region) = signing()
        var configuration = StalenessConfiguration(
            targets: parsed, writer: writerIndex, table: table + "-staleness", credentials: credentials,
            region: region)
        configuration.keys = stalenessKeys
        configuration.writeRate = writeRate
        configuration.readers = connections
        configuration.duration = try duration.map { try DurationOption.parse($0, option: "--duration") } ?? .seconds(10)
        configuration.bound = try DurationOption.parse(stalenessBound, option: "--staleness-bound")
        configuration.timeout = try DurationOption.parse(timeout, option: "--timeout")
        configuration.seed = seed
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let runner = StalenessRunner(configuration: configuration, group: group)
        let results: [StalenessResult]
        do {
            if prepare != "never" { try await runner.prepare() }
            // Let every node meet the table and position its follower before anything is measured.
            if !quiet { FileHandle.standardError.write(Data("staleness: warming up \(warmup)\n".utf8)) }
            let warm = try DurationOption.parse(warmup, option: "--warmup")
            var warmConfiguration = configuration
            warmConfiguration.duration = warm
            warmConfiguration.grace = .zero
            _ = try await StalenessRunner(configuration: warmConfiguration, group: group).run()
            results = try await runner.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        print(StalenessRunner.text(results, configuration: configuration), terminator: "")
        if let json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: URL(fileURLWithPath: json))
        }
    }

    /// On a terminal the line is rewritten in place; into a file or pipe only a phase's final line is written.
    private static func printProgress(_ progress: BenchProgress) {
        if isatty(STDERR_FILENO) != 0 {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(progress.line)\(progress.settled ? "\n" : "")".utf8))
        } else if progress.settled {
            FileHandle.standardError.write(Data("\(progress.line)\n".utf8))
        }
    }
}
