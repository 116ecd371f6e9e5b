import CacheCore
import DynamoWire
import NIOCore

/// The query cache's key: the caller's namespace and the canonical form of every request member that can change
/// the answer (all of them but ReturnConsumedCapacity). Unlike items, pages are not shared across namespaces:
/// nothing but a table-wide generation invalidates them, so per-namespace keys cost nothing in coherence.
struct QueryKey: CacheKey {
    let bytes: [UInt8]
    let stripeHash: UInt64

    init(namespace: Namespace, operation: UInt8, canonical: [UInt8]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(namespace.value.utf8.count + canonical.count + 2)
        bytes.append(contentsOf: namespace.value.utf8)
        bytes.append(0)
        bytes.append(operation)
        bytes.append(contentsOf: canonical)
        self.bytes = bytes
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        stripeHash = hash ^ (hash >> 31)
    }

    var retainedBytes: Int { AllocationSize.of(bytes) }

    static func == (lhs: QueryKey, rhs: QueryKey) -> Bool {
        lhs.stripeHash == rhs.stripeHash && lhs.bytes == rhs.bytes
    }

    /// The seeded hasher over the bytes, not the FNV value: keys are user input (hash flooding).
    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// A fetch of one page under one stamp; identical concurrent misses under the same stamp share it.
struct QueryFlightKey: Hashable, Sendable {
    let key: QueryKey
    let stamp: [UInt64]
}

/// One cached Query or Scan page: the storage server's answer without its consumed capacity, and the stamp
/// (table generation, or epoch and partition buckets) its fetch began under; see TableRegistry.
final class QueryEntry: Sendable {
    let body: ByteBuffer
    let checksum: String
    let stamp: [UInt64]

    init(body: ByteBuffer, stamp: [UInt64]) {
        self.body = body
        self.stamp = stamp
        checksum = String(CRC32.checksum(body))
    }

    /// Bytes charged against the cache budget: what the entry keeps alive, as ``ItemEntry/weight`` counts it.
    var weight: Int {
        Self.objectBytes + ByteBufferCost.of(body) + AllocationSize.of(checksum) + AllocationSize.of(stamp)
    }

    /// The most a page whose body is at most `bytes` long is charged, as ``ItemEntry/chargeLimit(forBodiesUpTo:)``,
    /// with room for a stamp of up to 64 partition buckets.
    static func chargeLimit(forBodiesUpTo bytes: Int) -> Int {
        objectBytes + ByteBufferCost.storageObjectBytes + ByteBufferCost.storage(for: bytes)
            + AllocationSize.rounded(32 + 8 * 64)
    }

    static let objectBytes = AllocationSize.rounded(
        16 + MemoryLayout<ByteBuffer>.stride + MemoryLayout<String>.stride + MemoryLayout<[UInt64]>.stride)
}

extension DynamoProxy {
    /// Eventually consistent Query and Scan, on a table or an index: from memory while the table's generation is
    /// the one the page was fetched under, else from the storage server, whose answer is kept.
    func queryOrScan(_ call: Call, _ operation: DynamoOperation) -> ProxyOutcome {
        guard configuration.queryTTL != 0 || !configuration.tablePolicies.isEmpty else {
            return .deferred(passThrough(call, status: .bypass))
        }
        let read = try? TableReadRequest(call.object)
        let capacityMember: String?
        do {
            capacityMember = try call.object.string(named: "ReturnConsumedCapacity")
        } catch {
            return .deferred(passThrough(call, status: .bypass))  // DynamoDB's to refuse
        }
        // A table's own policy overrides the default; a table not cached at all has no pages either.
        let queryTTL =
            read.flatMap { policy(of: $0.tableName) }.map { $0.cached ? $0.queryTTL ?? configuration.queryTTL : 0 }
            ?? configuration.queryTTL
        guard let read, !read.consistentRead, queryTTL != 0, ConsumedCapacityRequest.isValid(capacityMember),
            let canonical = CanonicalJSON.encode(call.object, excluding: ["ReturnConsumedCapacity"])
        else {
            return .deferred(passThrough(call, status: .bypass))
        }
        let partitions = operation == .query && read.indexName == nil ? Self.queriedPartitions(call.object) : nil
        let now = clock()
        guard
            let stamp = partitions.map({ tables.stamp(of: read.tableName, partitions: $0, now: now) })
                ?? tables.stamp(of: read.tableName, now: now)
        else {
            return .deferred(passThrough(call, status: .bypass))
        }
        let key = QueryKey(namespace: call.namespace, operation: operation == .query ? 1 : 2, canonical: canonical)
        let capacity = ConsumedCapacityRequest(returnConsumedCapacity: capacityMember, tableName: read.tableName)
        switch queries.lookup(key, now: now, accept: { $0.stamp == stamp }) {
        case .hit(let entry):
            return .immediate(queryAnswer(entry, capacity: capacity, status: .hit))
        case .miss(let ticket):
            return .deferred(
                fillQuery(
                    call,
                    key: key,
                    ticket: ticket,
                    table: read.tableName,
                    stamp: stamp,
                    partitions: partitions,
                    capacity: capacity,
                    ttl: queryTTL
                )
            )
        }
    }

    /// The key-value hashes a base-table Query's key condition pins (`pk = :v`), or nil when it pins none the
    /// proxy can read with certainty.
    static func queriedPartitions(_ object: JSONObject) -> [UInt64]? {
        guard let expression = (try? object.string(named: "KeyConditionExpression")).flatMap({ $0 }),
            let placeholders = KeyCondition.equalityPlaceholders(in: expression),
            let values = (try? object.member("ExpressionAttributeValues")).flatMap({ $0 }),
            let map = try? AttributeMap(
                parsing: object.body.getSlice(
                    at: object.body.readerIndex + values.range.lowerBound, length: values.range.count)!
            )
        else { return nil }
        var hashes: [UInt64] = []
        for placeholder in placeholders {
            guard let value = map[placeholder], let hash = KeyValueHash.of(value) else { return nil }
            hashes.append(hash)
        }
        return hashes
    }

    /// A stored page as an answer; with zero consumed capacity when asked (nothing was read).
    private func queryAnswer(_ entry: QueryEntry, capacity: ConsumedCapacityRequest?, status: CacheStatus)
        -> ProxyResponse
    {
        guard let capacity else { return composed(body: entry.body, checksum: entry.checksum, cacheStatus: status) }
        var consumed = ByteBuffer()
        capacity.encodeZero(into: &consumed)
        let body = RawMember.appending(
            "ConsumedCapacity",
            from: consumed,
            range: 0..<consumed.readableBytes,
            to: entry.body,
            allocator: allocator
        )
        return composed(body: body, cacheStatus: status)
    }

    private func fillQuery(
        _ call: Call,
        key: QueryKey,
        ticket: FillTicket,
        table: String,
        stamp: [UInt64],
        partitions: [UInt64]?,
        capacity: ConsumedCapacityRequest?,
        ttl: UInt64
    ) -> EventLoopFuture<ProxyResponse> {
        // The stamp is part of the flight: a read that arrives after a write to the table (or partition) was
        // acknowledged has a newer stamp, so it never joins a fetch that began before the write.
        let flight = QueryFlightKey(key: key, stamp: stamp)
        if case .follower(let shared) = queryFlights.join(flight, on: call.eventLoop) {
            statistics.queryJoins.add()
            return shared.flatMap { entry in
                guard let entry else { return self.passThrough(call, status: .miss) }
                return call.eventLoop.makeSucceededFuture(self.queryAnswer(entry, capacity: capacity, status: .miss))
            }
        }
        return send(call).map { answer in
            guard case .response(let upstream) = answer, upstream.head.status == .ok,
                let object = try? JSONObject(parsing: upstream.body)
            else {
                if answer.isSuccess { self.failedOpen(.unreadableAnswer, "a page from \(table) could not be read") }
                self.queryFlights.complete(flight, with: nil)
                self.forgetIfMissing(answer, tables: [table])
                return self.response(for: answer).marked(.miss)
            }
            // Stored without consumed capacity: one entry serves callers who ask for it and callers who do not.
            let body = object.rewritten(removing: ["ConsumedCapacity"], setting: [], allocator: self.allocator)
            let entry = QueryEntry(body: body, stamp: stamp)
            if self.tables.isCurrent(stamp, table: table, partitions: partitions, now: self.clock()) {
                let now = self.clock()
                self.queries.completeFill(
                    key,
                    ticket: ticket,
                    value: entry,
                    weight: entry.weight,
                    expiresAt: now &+ ttl
                )
            }
            self.queryFlights.complete(flight, with: entry)
            return ProxyResponse(upstream: upstream).marked(.miss)
        }
    }
}
