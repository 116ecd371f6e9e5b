import CacheCore
import DynamoWire
import NIOCore

/// The query cache's key: the caller's namespace and the canonical form of every request member that can change
/// the answer (all of them but ReturnConsumedCapacity). Unlike items, pages are not shared across namespaces:
/// nothing but a table-wide generation invalidates them, so per-namespace keys cost nothing in coherence.
struct QueryKey: CacheKey {
    let bytes: [UInt8]
    let group: UInt64
    let stripeHash: UInt64

    init(namespace: Namespace, operation: UInt8, canonical: [UInt8], table: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(namespace.value.utf8.count + canonical.count + 2)
        bytes.append(contentsOf: namespace.value.utf8)
        bytes.append(0)
        bytes.append(operation)
        bytes.append(contentsOf: canonical)
        self.bytes = bytes
        group = TableGroup.of(table)
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        stripeHash = hash ^ (hash >> 31)
    }

    static func == (lhs: QueryKey, rhs: QueryKey) -> Bool {
        lhs.stripeHash == rhs.stripeHash && lhs.bytes == rhs.bytes
    }

    /// The seeded hasher over the bytes, not the FNV value: keys are user input (hash flooding).
    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// One cached Query or Scan page: the storage server's answer without its consumed capacity, and the table
/// generation its fetch began under.
final class QueryEntry: Sendable {
    let body: ByteBuffer
    let checksum: String
    let generation: UInt64

    init(body: ByteBuffer, generation: UInt64) {
        self.body = body
        self.generation = generation
        checksum = String(CRC32.checksum(body))
    }

    var weight: Int { body.readableBytes + checksum.utf8.count + 64 }
}

extension DynamoProxy {
    /// Eventually consistent Query and Scan, on a table or an index: from memory while the table's generation is
    /// the one the page was fetched under, else from the storage server, whose answer is kept.
    func queryOrScan(_ call: Call, _ operation: DynamoOperation) -> ProxyOutcome {
        guard configuration.queryTTL != 0 else { return .deferred(passThrough(call, status: .bypass)) }
        let read: (table: String, consistent: Bool)?
        if operation == .query {
            read = (try? QueryRequest(call.object)).map { ($0.tableName, $0.consistentRead) }
        } else {
            read = (try? ScanRequest(call.object)).map { ($0.tableName, $0.consistentRead) }
        }
        let capacityMember: String?
        do {
            capacityMember = try call.object.string(named: "ReturnConsumedCapacity")
        } catch {
            return .deferred(passThrough(call, status: .bypass))  // DynamoDB's to refuse
        }
        guard let read, !read.consistent, ConsumedCapacityRequest.isValid(capacityMember),
            let canonical = CanonicalJSON.encode(call.object, excluding: ["ReturnConsumedCapacity"]),
            let generation = tables.generation(of: read.table)
        else {
            return .deferred(passThrough(call, status: .bypass))
        }
        let key = QueryKey(
            namespace: call.namespace,
            operation: operation == .query ? 1 : 2,
            canonical: canonical,
            table: read.table
        )
        let capacity = ConsumedCapacityRequest(returnConsumedCapacity: capacityMember, tableName: read.table)
        switch queries.lookup(key, now: clock(), accept: { $0.generation == generation }) {
        case .hit(let entry):
            return .immediate(queryAnswer(entry, capacity: capacity, status: .hit))
        case .miss(let ticket):
            return .deferred(
                fillQuery(call, key: key, ticket: ticket, table: read.table, generation: generation, capacity: capacity)
            )
        }
    }

    /// A stored page as an answer; with zero consumed capacity when asked (nothing was read).
    private func queryAnswer(_ entry: QueryEntry, capacity: ConsumedCapacityRequest?, status: CacheStatus)
        -> ProxyResponse
    {
        guard let capacity else { return composed(body: entry.body, checksum: entry.checksum).marked(status) }
        var consumed = ByteBuffer()
        consumed.writeStaticString(#"{"TableName":"#)
        consumed.writeString(JSONText.quoted(capacity.tableName))
        consumed.writeStaticString(
            capacity.indexes ? #","CapacityUnits":0.0,"Table":{"CapacityUnits":0.0}}"# : #","CapacityUnits":0.0}"#)
        let body = RawMember.appending(
            "ConsumedCapacity",
            from: consumed,
            range: 0..<consumed.readableBytes,
            to: entry.body,
            allocator: allocator
        )
        return composed(body: body).marked(status)
    }

    private func fillQuery(
        _ call: Call,
        key: QueryKey,
        ticket: FillTicket,
        table: String,
        generation: UInt64,
        capacity: ConsumedCapacityRequest?
    ) -> EventLoopFuture<ProxyResponse> {
        if case .follower(let shared) = queryFlights.join(key, on: call.eventLoop) {
            return shared.flatMap { entry in
                guard let entry else { return self.passThrough(call, status: .miss) }
                return call.eventLoop.makeSucceededFuture(self.queryAnswer(entry, capacity: capacity, status: .miss))
            }
        }
        return send(call).map { answer in
            guard case .response(let upstream) = answer, upstream.head.status == .ok,
                let object = try? JSONObject(parsing: upstream.body)
            else {
                self.queryFlights.complete(key, with: nil)
                if answer.errorCode == "ResourceNotFoundException" { self.flush(table: table) }
                return self.response(for: answer).marked(.miss)
            }
            // Stored without consumed capacity: one entry serves callers who ask for it and callers who do not.
            let body = object.rewritten(removing: ["ConsumedCapacity"], setting: [], allocator: self.allocator)
            let entry = QueryEntry(body: body, generation: generation)
            if self.tables.generation(of: table) == generation {
                let now = self.clock()
                self.queries.completeFill(
                    key,
                    ticket: ticket,
                    value: entry,
                    weight: entry.weight,
                    expiresAt: now &+ self.configuration.queryTTL,
                    now: now
                )
            }
            self.queryFlights.complete(key, with: entry)
            return ProxyResponse(upstream: upstream).marked(.miss)
        }
    }

    /// After a write to `tables` was answered by the storage server (whatever the answer), before the client is:
    /// cached query and scan pages of those tables are stale.
    func afterWrite<Tables: Sequence<String>>(to tables: Tables) {
        guard configuration.queryInvalidation == .write else { return }
        for table in tables { self.tables.advance(table) }
    }
}

/// JSON text helpers for the few members the proxy writes itself.
enum JSONText {
    /// A JSON string literal of `text`.
    static func quoted(_ text: String) -> String {
        var buffer = ByteBuffer()
        JSONWriter.writeString(text, into: &buffer)
        return String(buffer: buffer)
    }
}
