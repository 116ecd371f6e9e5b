import Synchronization

/// The benchmark table: `items` items of about `itemBytes` bytes, `partitionSize` items per partition key.
/// Item `i` has partition key `pk = "p<i / partitionSize>"` and sort key `sk = i % partitionSize`, so a Query of
/// one partition returns up to `partitionSize` items.
package struct Dataset: Sendable, Equatable {
    package var table: String
    package var items: Int
    package var itemBytes: Int
    package var partitionSize: Int

    package init(table: String, items: Int, itemBytes: Int, partitionSize: Int) {
        self.table = table
        self.items = items
        self.itemBytes = itemBytes
        self.partitionSize = partitionSize
    }

    package var partitions: Int { (items + partitionSize - 1) / partitionSize }

    func partitionKey(_ partition: Int) -> String {
        let digits = String(partition)
        return "p" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// `{"pk":{"S":"p000012"},"sk":{"N":"3"}}`
    func keyJSON(item: Int) -> String {
        #"{"pk":{"S":"\#(partitionKey(item / partitionSize))"},"sk":{"N":"\#(item % partitionSize)"}}"#
    }

    /// The `data` attribute's length: the item's key attributes and names take about 20 bytes.
    var payloadLength: Int { max(1, itemBytes - 20) }

    /// A payload of `payloadLength` characters that starts with a 16-digit stamp, so that each write changes it.
    func payload(stamp: UInt64) -> String {
        let digits = String(stamp, radix: 16)
        let stamped = String(repeating: "0", count: max(0, 16 - digits.count)) + digits
        if payloadLength <= stamped.count { return String(stamped.prefix(payloadLength)) }
        return stamped + String(repeating: "x", count: payloadLength - stamped.count)
    }

    func itemJSON(item: Int, stamp: UInt64) -> String {
        #"{"pk":{"S":"\#(partitionKey(item / partitionSize))"},"sk":{"N":"\#(item % partitionSize)"},"#
            + #""data":{"S":"\#(payload(stamp: stamp))"}}"#
    }
}

/// What a benchmark phase sends.
package enum Workload: String, Sendable, CaseIterable, Codable {
    /// GetItem of keys drawn from the key distribution.
    case get
    /// GetItem of each key once, in sequence from a random start: through a cache that has not seen the table
    /// (a fresh proxy, or this workload first in the run), every read is a miss.
    case getOnce = "get-once"
    /// 95% GetItem, 5% writes (PutItem or UpdateItem), keys from the distribution.
    case mix95 = "mix-95-5"
    /// 50% GetItem, 50% writes.
    case mix50 = "mix-50-50"
    /// Query of one whole partition, partitions drawn from the distribution.
    case query
    /// BatchGetItem of `batchSize` distinct keys from the distribution.
    case batchGet = "batch-get"
    /// Zipf GetItems where one request in five continues a sequential sweep over the whole key space: one-hit
    /// wonders that a pure recency policy lets flush the hot set (the hit-ratio simulator's scan trace, live).
    case scanPolluted = "scan-polluted"
}

package enum KeyDistribution: String, Sendable, CaseIterable, Codable {
    case zipf, uniform
}

package enum WriteKind: String, Sendable, CaseIterable, Codable {
    case put, update
}

/// How requests are drawn, beyond the workload itself.
package struct WorkloadOptions: Sendable, Equatable {
    package var distribution: KeyDistribution
    package var zipfTheta: Double
    package var batchSize: Int
    package var writeKind: WriteKind

    package init(
        distribution: KeyDistribution = .zipf, zipfTheta: Double = 0.99, batchSize: Int = 10,
        writeKind: WriteKind = .put
    ) {
        self.distribution = distribution
        self.zipfTheta = zipfTheta
        self.batchSize = batchSize
        self.writeKind = writeKind
    }
}

/// One request, before signing: its `X-Amz-Target` operation and JSON body.
package struct BenchRequest: Sendable {
    package var operation: String
    package var body: [UInt8]
}

/// A position in the key space shared by every connection of one target, so that `get-once` reads no key twice
/// through that target in a run (while there are keys left) and the scan sweep is one sweep.
package final class SharedCursor: Sendable {
    private let position: Atomic<Int>
    private let start: Int

    package init(start: Int) {
        position = Atomic(start)
        self.start = start
    }

    func next() -> Int { position.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Positions handed out so far.
    var taken: Int { position.load(ordering: .relaxed) - start }
}

/// Draws the requests of one connection. Each connection has its own random stream, so connections never
/// contend for one; the Zipf table is built once and shared.
package struct RequestGenerator: Sendable {
    let workload: Workload
    let options: WorkloadOptions
    let dataset: Dataset
    let keys: KeySampler
    let partitionKeys: KeySampler
    let cursor: SharedCursor
    var random: SplitMix64

    package init(
        workload: Workload, options: WorkloadOptions, dataset: Dataset, samplers: Samplers,
        cursor: SharedCursor, seed: UInt64
    ) {
        self.workload = workload
        self.options = options
        self.dataset = dataset
        keys = samplers.items
        partitionKeys = samplers.partitions
        self.cursor = cursor
        random = SplitMix64(seed: seed)
    }

    package mutating func next() -> BenchRequest {
        switch workload {
        case .get:
            return getItem(keys.draw(using: &random))
        case .getOnce:
            return getItem(cursor.next() % dataset.items)
        case .mix95, .mix50:
            let writeShare = workload == .mix95 ? 0.05 : 0.5
            let item = keys.draw(using: &random)
            return random.nextUnit() < writeShare ? write(item) : getItem(item)
        case .query:
            let partition = partitionKeys.draw(using: &random)
            let body =
                #"{"TableName":"\#(dataset.table)","KeyConditionExpression":"pk = :p","#
                + #""ExpressionAttributeValues":{":p":{"S":"\#(dataset.partitionKey(partition))"}}}"#
            return BenchRequest(operation: "Query", body: Array(body.utf8))
        case .batchGet:
            var chosen = Set<Int>()
            let wanted = min(options.batchSize, dataset.items)
            while chosen.count < wanted { chosen.insert(keys.draw(using: &random)) }
            let keyList = chosen.map(dataset.keyJSON(item:)).joined(separator: ",")
            let body = #"{"RequestItems":{"\#(dataset.table)":{"Keys":[\#(keyList)]}}}"#
            return BenchRequest(operation: "BatchGetItem", body: Array(body.utf8))
        case .scanPolluted:
            let sweep = random.next() % 5 == 0
            return getItem(sweep ? cursor.next() % dataset.items : keys.draw(using: &random))
        }
    }

    private func getItem(_ item: Int) -> BenchRequest {
        let body = #"{"TableName":"\#(dataset.table)","Key":\#(dataset.keyJSON(item: item))}"#
        return BenchRequest(operation: "GetItem", body: Array(body.utf8))
    }

    private mutating func write(_ item: Int) -> BenchRequest {
        let stamp = random.next()
        switch options.writeKind {
        case .put:
            let body = #"{"TableName":"\#(dataset.table)","Item":\#(dataset.itemJSON(item: item, stamp: stamp))}"#
            return BenchRequest(operation: "PutItem", body: Array(body.utf8))
        case .update:
            let body =
                #"{"TableName":"\#(dataset.table)","Key":\#(dataset.keyJSON(item: item)),"#
                + ##""UpdateExpression":"SET #d = :d","ExpressionAttributeNames":{"#d":"data"},"##
                + #""ExpressionAttributeValues":{":d":{"S":"\#(dataset.payload(stamp: stamp))"}}}"#
            return BenchRequest(operation: "UpdateItem", body: Array(body.utf8))
        }
    }
}

/// Draws an index in `0..<count` uniformly or by Zipf rank (rank 0, the most popular, is index 0).
package struct KeySampler: Sendable {
    let count: Int
    let zipf: ZipfGenerator?

    package init(count: Int, distribution: KeyDistribution, theta: Double) {
        self.count = count
        zipf = distribution == .zipf ? ZipfGenerator(n: count, theta: theta) : nil
    }

    func draw(using random: inout SplitMix64) -> Int {
        if let zipf { return zipf.next(using: &random) }
        return Int(random.next() % UInt64(count))
    }
}

/// The samplers of one workload, built once (a Zipf table over a million keys takes a few milliseconds).
package struct Samplers: Sendable {
    package let items: KeySampler
    package let partitions: KeySampler

    package init(dataset: Dataset, options: WorkloadOptions) {
        items = KeySampler(count: dataset.items, distribution: options.distribution, theta: options.zipfTheta)
        partitions = KeySampler(
            count: dataset.partitions, distribution: options.distribution, theta: options.zipfTheta)
    }
}
