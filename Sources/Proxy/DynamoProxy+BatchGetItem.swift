import CacheCore
import DynamoWire
import NIOCore

/// How one table of a BatchGetItem is read: through the cache (with its projection, and the table's incarnation
/// for the entries its misses fill) or not at all (strongly consistent, or not cacheable).
private struct BatchTableRead: Sendable {
    /// Nil when the table's keys go to the storage server as asked and nothing of it is stored.
    var plan: ProjectionPlan?
    var incarnation: TableIncarnation?
    /// Per key of the request's table: whether it goes to the storage server.
    var sent: [Bool] = []
    /// The fill tickets of the keys that missed.
    var tickets: [CanonicalKey: FillTicket] = [:]

    var isCached: Bool { plan != nil }
    /// Whether the storage server is asked for whole items, which the proxy projects itself.
    var fetchesWholeItems: Bool { plan.map { !$0.isWholeItem } ?? false }
}

extension DynamoProxy {
    /// Eventually consistent BatchGetItem: keys found in memory are answered from it; the rest go to the storage
    /// server in one request (whole items, so the cache can keep them), and the answer merges both. Unprocessed
    /// keys come back as the client asked for them. Strongly consistent tables pass through inside the same request.
    /// Misses here do not join GetItem's shared fetches: a batch is one request by design.
    func batchGetItem(_ call: Call) -> ProxyOutcome {
        guard let request = try? BatchGetItemRequest(call.object), Self.isServable(request) else {
            return .deferred(passThrough(call, status: .bypass))
        }
        var builder = BatchGetItemResponseBuilder(request: request)
        var reads: [BatchTableRead] = []
        var hits = 0
        let now = clock()
        let namespace = call.namespace
        for (index, table) in request.tables.enumerated() {
            var read = BatchTableRead()
            if !table.consistentRead, isCached(table.tableName), let plan = ProjectionPlan(table.projection),
                let first = table.keys.first,
                plan.isWholeItem || configuration.rewriteRequests,
                let incarnation = tables.noteCandidate(
                    table.tableName, attributes: first.attributes.entries.map(\.name), now: now)
            {
                read.plan = plan
                read.incarnation = incarnation
            }
            for key in table.keys {
                guard let plan = read.plan else {
                    read.sent.append(true)
                    continue
                }
                let itemKey = ItemKey(table: table.tableName, key: key.canonical)
                switch items.lookup(itemKey, now: now, accept: { $0.namespace == namespace }) {
                case .hit(let entry):
                    var json: ByteBuffer?
                    if let range = entry.itemRange {
                        json = entry.body.getSlice(at: range.lowerBound, length: range.count)
                        if json == nil {
                            // Asked of the storage server with the misses instead.
                            items.invalidate(itemKey)
                            failedOpen(.storedEntry, "a BatchGetItem entry of \(table.tableName) could not be read")
                            read.sent.append(true)
                            continue
                        }
                    }
                    hits += 1
                    read.sent.append(false)
                    if let json {
                        builder.addItem(
                            json: plan.isWholeItem ? json : plan.apply(toItemJSON: json, allocator: allocator),
                            table: index
                        )
                    }
                case .miss(let ticket):
                    read.sent.append(true)
                    // A key changed elsewhere a moment ago: its answer is passed on, not stored.
                    if !isFenced(itemKey, now: now) { read.tickets[key.canonical] = ticket }
                }
            }
            reads.append(read)
        }
        let missing = reads.contains { $0.sent.contains(true) }
        if missing && hits > 0 && !configuration.rewriteRequests {
            // Sending only the missing keys would change the signed body; forward the request as it is.
            return .deferred(passThrough(call, status: .miss))
        }
        let fullItemTables = Set(reads.indices.filter { reads[$0].fetchesWholeItems })
        guard
            let body = request.upstreamBody(
                keeping: reads.map(\.sent), fullItemTables: fullItemTables, allocator: allocator)
        else {
            return .immediate(composed(body: builder.compose(allocator: allocator), cacheStatus: .hit))
        }
        let status: CacheStatus = hits == 0 ? .miss : .partial
        // With nothing from memory and nothing to project, the client's own request goes up and its answer comes
        // back as the server sent it; the cache only keeps what it returned.
        let passThrough = hits == 0 && fullItemTables.isEmpty
        return .deferred(
            send(call, body: passThrough ? nil : body).map { [builder, reads] answer -> ProxyResponse? in
                var builder = builder
                guard case .response(let upstream) = answer, upstream.head.status == .ok,
                    let parsed = try? BatchGetItemResponse(parsing: upstream.body)
                else {
                    if answer.isSuccess {
                        self.failedOpen(.unreadableAnswer, "a BatchGetItem answer could not be read")
                    }
                    self.forgetIfMissing(answer, tables: request.tables.map(\.tableName))
                    // An answer the proxy cannot read to the request it rewrote: the caller's own request instead.
                    if !passThrough, answer.isSuccess { return nil }
                    return self.response(for: answer).marked(status)
                }
                self.storeBatch(parsed, request: request, reads: reads, namespace: namespace)
                if passThrough { return ProxyResponse(upstream: upstream).marked(status) }
                for (position, table) in parsed.responses.enumerated() {
                    guard let index = request.tableIndex(named: table.tableName), reads[index].fetchesWholeItems,
                        let plan = reads[index].plan
                    else { continue }
                    for range in parsed.itemRanges[position] {
                        builder.addItem(
                            json: plan.apply(toItemJSON: parsed.slice(range), allocator: self.allocator), table: index)
                    }
                }
                builder.addUpstream(parsed, fullItemTables: fullItemTables)
                return self.composed(body: builder.compose(allocator: self.allocator), cacheStatus: status)
            }.flatMap { response in
                response.map { call.eventLoop.makeSucceededFuture($0) } ?? self.passThrough(call, status: .bypass)
            }
        )
    }

    /// Stores what the storage server returned for the cached tables, and records as absent every requested key
    /// it neither returned nor left unprocessed.
    private func storeBatch(
        _ parsed: BatchGetItemResponse,
        request: BatchGetItemRequest,
        reads: [BatchTableRead],
        namespace: Namespace
    ) {
        var remaining = reads.map(\.tickets)
        for table in parsed.unprocessedKeys {
            guard let index = request.tableIndex(named: table.tableName) else { continue }
            for key in table.keys { remaining[index][key.canonical] = nil }
        }
        let now = clock()
        for (position, table) in parsed.responses.enumerated() {
            guard let index = request.tableIndex(named: table.tableName), let incarnation = reads[index].incarnation,
                let names = request.tables[index].keys.first?.attributes.entries.map(\.name)
            else { continue }
            for (item, range) in zip(table.items, parsed.itemRanges[position]) {
                guard let canonical = item.primaryKey(named: names), let ticket = remaining[index][canonical] else {
                    continue
                }
                remaining[index][canonical] = nil
                let entry = ItemEntry(
                    namespace: namespace, incarnation: incarnation, itemJSON: parsed.slice(range), storedAt: now,
                    allocator: allocator)
                items.completeFill(
                    ItemKey(table: request.tables[index].tableName, key: canonical),
                    ticket: ticket,
                    value: entry,
                    weight: entry.weight,
                    expiresAt: expiry(now: now, negative: false, table: table.tableName)
                )
            }
            apply([.confirmSchema(table: request.tables[index].tableName, attributes: names)])
        }
        for (index, table) in request.tables.enumerated() {
            guard let incarnation = reads[index].incarnation else { continue }
            for (canonical, ticket) in remaining[index] {
                let entry = ItemEntry(
                    namespace: namespace, incarnation: incarnation, itemJSON: nil, storedAt: now, allocator: allocator)
                items.completeFill(
                    ItemKey(table: table.tableName, key: canonical),
                    ticket: ticket,
                    value: entry,
                    weight: entry.weight,
                    expiresAt: expiry(now: now, negative: true, table: table.tableName)
                )
            }
        }
    }

    /// Requests DynamoDB would refuse must reach it, so that the client gets the server's own error: too many
    /// keys, duplicate keys, a table named twice, keys whose attribute names differ within a table, consumed
    /// capacity modes it does not know.
    private static func isServable(_ request: BatchGetItemRequest) -> Bool {
        guard ConsumedCapacityRequest.isValid(request.returnConsumedCapacity), !request.tables.isEmpty,
            Set(request.tables.map(\.tableName)).count == request.tables.count
        else { return false }
        var total = 0
        for table in request.tables {
            total += table.keys.count
            guard !table.keys.isEmpty, Set(table.keys.map(\.canonical)).count == table.keys.count,
                Set(table.keys.map { Set($0.attributes.entries.map(\.name)) }).count == 1
            else { return false }
        }
        return total <= 100
    }
}
