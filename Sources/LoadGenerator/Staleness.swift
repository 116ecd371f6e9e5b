import AWSAuth
import Foundation
import NIOCore
import Synchronization

/// The `staleness` workload: one writer writes versioned items through one target (a proxy node, or the storage
/// server itself) while readers poll every target; it measures, per target, how long after a write's
/// acknowledgement the target first returns it, and how many reads returned a value older than one
/// acknowledged more than `bound` before the read began.
package struct StalenessConfiguration: Sendable {
    package var targets: [BenchTarget]
    /// Index in `targets` of the target the writes go through.
    package var writer: Int
    package var table: String
    /// Distinct keys written and read.
    package var keys = 20
    /// Writes per second.
    package var writeRate = 20.0
    /// Concurrent readers per target, each cycling over the keys.
    package var readers = 2
    /// How long the writer writes; readers go on for `grace` more, so the last writes can arrive.
    package var duration: TimeAmount = .seconds(10)
    package var grace: TimeAmount = .seconds(5)
    /// A read older than a write acknowledged this long before it began counts as stale.
    package var bound: TimeAmount = .seconds(1)
    package var timeout: TimeAmount = .seconds(10)
    package var credentials: AWSCredentials
    package var region: String
    package var seed: UInt64 = 1

    package init(targets: [BenchTarget], writer: Int, table: String, credentials: AWSCredentials, region: String) {
        self.targets = targets
        self.writer = writer
        self.table = table
        self.credentials = credentials
        self.region = region
    }
}

/// One target's figures.
package struct StalenessResult: Sendable, Codable {
    package var target: String
    package var reads = 0
    package var readErrors = 0
    /// Writes acknowledged, and how many of them this target returned before the run ended.
    package var writes = 0
    package var writesSeen = 0
    /// Milliseconds from acknowledgement to the first answer of this target with that write or a newer one.
    package var propagationP50: Double?
    package var propagationP99: Double?
    package var propagationMax: Double?
    /// Reads that returned a value older than one acknowledged more than the bound before they began.
    package var staleReads = 0
}

/// Runs the staleness workload. Half of each reader's reads sweep over the keys (every key is checked for stale
/// answers), half ask for the key written last (a write is looked for as soon as a read can answer).
package struct StalenessRunner: Sendable {
    package let configuration: StalenessConfiguration
    private let group: any EventLoopGroup

    package init(configuration: StalenessConfiguration, group: any EventLoopGroup) {
        self.configuration = configuration
        self.group = group
    }

    /// A write the storage server acknowledged, at `acknowledged` (monotonic nanoseconds).
    package struct Write: Sendable {
        let key: Int
        let version: Int
        let acknowledged: UInt64

        package init(key: Int, version: Int, acknowledged: UInt64) {
            self.key = key
            self.version = version
            self.acknowledged = acknowledged
        }
    }

    /// A read of one target.
    package struct Read: Sendable {
        let key: Int
        let began: UInt64
        let ended: UInt64
        /// 0 when the item does not exist yet.
        let version: Int

        package init(key: Int, began: UInt64, ended: UInt64, version: Int) {
            self.key = key
            self.began = began
            self.ended = ended
            self.version = version
        }
    }

    private func client(_ target: BenchTarget) -> PreparationClient {
        PreparationClient(
            target: target, signer: SigV4Signer(credentials: configuration.credentials, region: configuration.region),
            group: group, timeout: configuration.timeout)
    }

    /// Creates the table (hash key `pk`, a stream with new and old images) through the writer unless it exists
    /// with a stream; the items of an earlier run are overwritten by the first writes.
    package func prepare() async throws {
        let writer = client(configuration.targets[configuration.writer])
        defer { Task { await writer.client.shutdown() } }
        let table = configuration.table
        let (status, body) = try await writer.send("DescribeTable", #"{"TableName":"\#(table)"}"#)
        if status == 200 {
            guard body.contains(#""StreamEnabled": true"#) || body.contains(#""StreamEnabled":true"#) else {
                throw BenchError.preparation("table \(table) exists without a stream; the staleness workload needs one")
            }
        } else if body.contains("ResourceNotFoundException") {
            let create = #"""
                {"TableName":"\#(table)","BillingMode":"PAY_PER_REQUEST",\#
                "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],\#
                "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],\#
                "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"}}
                """#
            let (created, answer) = try await writer.send("CreateTable", create)
            guard created == 200 else { throw BenchError.preparation("CreateTable answered \(created): \(answer)") }
            for _ in 0..<600 {
                let (_, description) = try await writer.send("DescribeTable", #"{"TableName":"\#(table)"}"#)
                if description.contains(#""TableStatus": "ACTIVE""#) || description.contains(#""TableStatus":"ACTIVE""#)
                {
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw BenchError.preparation("table \(table) did not become ACTIVE within a minute")
        } else {
            throw BenchError.preparation("DescribeTable answered \(status): \(body)")
        }
    }

    package func run() async throws -> [StalenessResult] {
        let start = monotonicNanoseconds()
        let writeEnd = start + UInt64(configuration.duration.nanoseconds)
        let readEnd = writeEnd + UInt64(configuration.grace.nanoseconds)
        let writer = client(configuration.targets[configuration.writer])
        let readers = configuration.targets.map { target in (0..<configuration.readers).map { _ in client(target) } }
        do {
            let results = try await measure(writer: writer, readers: readers, writeEnd: writeEnd, readEnd: readEnd)
            await writer.client.shutdown()
            for client in readers.joined() { await client.client.shutdown() }
            return results
        } catch {
            await writer.client.shutdown()
            for client in readers.joined() { await client.client.shutdown() }
            throw error
        }
    }

    private func measure(
        writer: PreparationClient, readers: [[PreparationClient]], writeEnd: UInt64, readEnd: UInt64
    ) async throws -> [StalenessResult] {
        let configuration = configuration
        let table = configuration.table
        // The key written last: every other read asks for it, so a write is looked for as soon as a read can
        // answer, not only when a sweep over the keys comes back to it.
        let latest = LatestKey()
        return try await withThrowingTaskGroup(of: ([Write], [Int: [Read]], [Int: Int]).self) { group in
            group.addTask {
                var random = SplitMix64(seed: configuration.seed)
                var writes: [Write] = []
                var version = Int(Date().timeIntervalSince1970 * 1000) * 100  // newer than any earlier run's
                let interval = UInt64(1e9 / configuration.writeRate)
                var next = monotonicNanoseconds()
                while next < writeEnd {
                    let key = Int(random.next() % UInt64(configuration.keys))
                    version += 1
                    let (status, _) = try await writer.send(
                        "PutItem",
                        #"{"TableName":"\#(table)","Item":{"pk":{"S":"k\#(key)"},"v":{"N":"\#(version)"}}}"#)
                    if status == 200 {
                        writes.append(Write(key: key, version: version, acknowledged: monotonicNanoseconds()))
                        latest.key.store(key, ordering: .relaxed)
                    }
                    next += interval
                    let now = monotonicNanoseconds()
                    if next > now { try await Task.sleep(for: .nanoseconds(Int64(next - now))) }
                }
                return (writes, [:], [:])
            }
            for (targetIndex, clients) in readers.enumerated() {
                for (readerIndex, client) in clients.enumerated() {
                    group.addTask {
                        var reads: [Read] = []
                        var errors = 0
                        var sweep = readerIndex * configuration.keys / max(1, configuration.readers)
                        var count = 0
                        while monotonicNanoseconds() < readEnd {
                            count += 1
                            if count % 2 == 1 { sweep = (sweep + 1) % configuration.keys }
                            let key = count % 2 == 0 ? latest.key.load(ordering: .relaxed) : sweep
                            let began = monotonicNanoseconds()
                            let answer = try? await client.send(
                                "GetItem", #"{"TableName":"\#(table)","Key":{"pk":{"S":"k\#(key)"}}}"#)
                            let ended = monotonicNanoseconds()
                            guard let answer, answer.status == 200 else {
                                errors += 1
                                try await Task.sleep(for: .milliseconds(10))
                                continue
                            }
                            reads.append(
                                Read(key: key, began: began, ended: ended, version: Self.version(in: answer.body)))
                        }
                        return ([], [targetIndex: reads], [targetIndex: errors])
                    }
                }
            }
            var writes: [Write] = []
            var reads: [Int: [Read]] = [:]
            var errors: [Int: Int] = [:]
            for try await (w, r, e) in group {
                writes += w
                for (target, list) in r { reads[target, default: []] += list }
                for (target, count) in e { errors[target, default: 0] += count }
            }
            return configuration.targets.indices.map { index in
                Self.result(
                    target: configuration.targets[index].name, writes: writes, reads: reads[index] ?? [],
                    errors: errors[index] ?? 0, bound: UInt64(configuration.bound.nanoseconds))
            }
        }
    }

    /// The `v` of a GetItem answer; 0 when it has no item.
    package static func version(in body: String) -> Int {
        guard let range = body.range(of: #""v":{"N":""#) ?? body.range(of: #""v": {"N": ""#) else { return 0 }
        return Int(body[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    /// One target's figures from the writes and its reads.
    package static func result(
        target: String, writes: [Write], reads: [Read], errors: Int, bound: UInt64
    ) -> StalenessResult {
        var result = StalenessResult(target: target)
        result.reads = reads.count
        result.readErrors = errors
        result.writes = writes.count
        let readsByKey = Dictionary(grouping: reads, by: \.key).mapValues { $0.sorted { $0.ended < $1.ended } }
        let writesByKey = Dictionary(grouping: writes, by: \.key).mapValues {
            $0.sorted { $0.acknowledged < $1.acknowledged }
        }
        var propagation: [Double] = []
        for write in writes {
            // The first answer, ending after the acknowledgement, with this version or a newer one.
            guard
                let seen = readsByKey[write.key]?.first(where: {
                    $0.ended >= write.acknowledged && $0.version >= write.version
                })
            else { continue }
            propagation.append(Double(seen.ended - write.acknowledged) / 1e6)
        }
        result.writesSeen = propagation.count
        propagation.sort()
        func percentile(_ p: Double) -> Double? {
            propagation.isEmpty ? nil : propagation[min(propagation.count - 1, Int(Double(propagation.count) * p))]
        }
        result.propagationP50 = percentile(0.5)
        result.propagationP99 = percentile(0.99)
        result.propagationMax = propagation.last
        for read in reads {
            // The newest version acknowledged more than `bound` before the read began.
            guard read.began > bound, let list = writesByKey[read.key] else { continue }
            let cutoff = read.began - bound
            let newest = list.last { $0.acknowledged < cutoff }?.version ?? 0
            if read.version < newest { result.staleReads += 1 }
        }
        return result
    }

    /// The results as a table.
    package static func text(_ results: [StalenessResult], configuration: StalenessConfiguration) -> String {
        func ms(_ value: Double?) -> String { value.map { Report.decimal($0, 1) } ?? "–" }
        var lines = [
            "staleness: \(configuration.keys) keys, \(Report.decimal(configuration.writeRate, 0)) writes/s through "
                + "\(configuration.targets[configuration.writer].name), \(configuration.readers) readers per target, "
                + "bound \(Report.decimal(Double(configuration.bound.nanoseconds) / 1e6, 0)) ms",
            "target                  reads  errors   writes     seen   p50 ms   p99 ms   max ms   stale reads",
        ]
        for result in results {
            let name = result.target.padding(toLength: 20, withPad: " ", startingAt: 0)
            func column(_ text: String, _ width: Int) -> String {
                text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
            }
            lines.append(
                name + column(String(result.reads), 9) + column(String(result.readErrors), 8)
                    + column(String(result.writes), 9) + column(String(result.writesSeen), 9)
                    + column(ms(result.propagationP50), 9) + column(ms(result.propagationP99), 9)
                    + column(ms(result.propagationMax), 9) + column(String(result.staleReads), 14))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The key the writer wrote last, shared with the readers.
private final class LatestKey: Sendable {
    let key = Atomic<Int>(0)
}
