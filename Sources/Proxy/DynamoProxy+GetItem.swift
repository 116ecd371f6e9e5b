import CacheCore
import DynamoWire
import NIOCore

/// A fetch of one item for one namespace; concurrent misses with the same flight key share it. The fill ticket
/// is part of the key: a write or invalidation of the item changes the ticket a later miss gets, so a read that
/// arrives after a write was acknowledged never joins a fetch that began before it.
struct ItemFlightKey: Hashable, Sendable {
    let key: ItemKey
    let namespace: Namespace
    let ticket: FillTicket
}

/// The outcome of a shared fetch: the entry, or nothing usable (followers then send their own request).
enum ItemFill: Sendable {
    case entry(ItemEntry)
    case failed
}

extension DynamoProxy {
    /// Eventually consistent GetItem: from memory when the entry is there for this namespace, else fetched whole
    /// (projection removed, so one entry serves every projection), stored, and answered in the form asked.
    func getItem(_ call: Call) -> ProxyOutcome {
        // Anything the proxy is not sure DynamoDB would accept goes to the server, which gives the exact error.
        guard let request = try? GetItemRequest(call.object), !request.consistentRead,
            isCached(request.tableName), ConsumedCapacityRequest.isValid(request.returnConsumedCapacity),
            let plan = ProjectionPlan(request.projection)
        else {
            return .deferred(passThrough(call, status: .bypass))
        }
        let keyNames = request.key.attributes.entries.map(\.name)
        let now = clock()
        guard let incarnation = tables.noteCandidate(request.tableName, attributes: keyNames, now: now) else {
            return .deferred(passThrough(call, status: .bypass))
        }
        let key = ItemKey(table: request.tableName, key: request.key.canonical)
        let namespace = call.namespace
        switch items.lookup(key, now: now, accept: { $0.namespace == namespace }) {
        case .hit(let entry):
            guard let response = answer(from: entry, request: request, plan: plan, status: .hit) else {
                items.invalidate(key)
                failedOpen(.storedEntry, "a GetItem entry of \(request.tableName) could not be answered")
                return .deferred(passThrough(call, status: .miss))
            }
            return .immediate(response)
        case .miss(let ticket):
            if isFenced(key, now: now) {
                // Changed elsewhere a moment ago: an eventually consistent read may not show it yet.
                return .deferred(passThrough(call, status: .miss))
            }
            if !plan.isWholeItem && !configuration.rewriteRequests {
                // Fetching the whole item would change the signed body: forward as sent, store nothing.
                return .deferred(passThrough(call, status: .miss))
            }
            return .deferred(
                fill(call, request: request, plan: plan, key: key, ticket: ticket, incarnation: incarnation))
        }
    }

    /// The answer for `request` from a stored entry: the stored body itself when no projection or consumed
    /// capacity was asked, else one composed from the stored item. Nil when the entry cannot give one.
    func answer(from entry: ItemEntry, request: GetItemRequest, plan: ProjectionPlan, status: CacheStatus)
        -> ProxyResponse?
    {
        let capacity = ConsumedCapacityRequest(
            returnConsumedCapacity: request.returnConsumedCapacity,
            tableName: request.tableName
        )
        if plan.isWholeItem, capacity == nil {
            return composed(body: entry.body, checksum: entry.checksum, cacheStatus: status)
        }
        var itemJSON: ByteBuffer?
        if let range = entry.itemRange {
            guard let slice = entry.body.getSlice(at: range.lowerBound, length: range.count) else { return nil }
            itemJSON = slice
        }
        if plan.isWholeItem {
            let body = GetItemResponse.compose(itemJSON: itemJSON, consumedCapacity: capacity, allocator: allocator)
            return composed(body: body, cacheStatus: status)
        }
        let projected = itemJSON.map { plan.apply(toItemJSON: $0, allocator: allocator) }
        let body = GetItemResponse.compose(itemJSON: projected, consumedCapacity: capacity, allocator: allocator)
        return composed(body: body, cacheStatus: status)
    }

    /// Fetches the whole item once for all concurrent misses of this key and namespace, stores it unless the key
    /// changed meanwhile, and answers each caller in the form it asked.
    private func fill(
        _ call: Call,
        request: GetItemRequest,
        plan: ProjectionPlan,
        key: ItemKey,
        ticket: FillTicket,
        incarnation: TableIncarnation
    ) -> EventLoopFuture<ProxyResponse> {
        let flight = ItemFlightKey(key: key, namespace: call.namespace, ticket: ticket)
        if case .follower(let shared) = itemFlights.join(flight, on: call.eventLoop) {
            statistics.itemJoins.add()
            return shared.flatMap { fill in
                guard case .entry(let entry) = fill,
                    let response = self.answer(from: entry, request: request, plan: plan, status: .miss)
                else {
                    return self.passThrough(call, status: .miss)
                }
                return call.eventLoop.makeSucceededFuture(response)
            }
        }
        let body =
            plan.isWholeItem
            ? nil
            : call.object.rewritten(
                removing: ["ProjectionExpression", "ExpressionAttributeNames", "AttributesToGet"],
                setting: [],
                allocator: allocator
            )
        return send(call, body: body).map { answer -> ProxyResponse? in
            guard case .response(let upstream) = answer, upstream.head.status == .ok,
                let parsed = try? GetItemResponse(parsing: upstream.body)
            else {
                if answer.isSuccess {
                    self.failedOpen(.unreadableAnswer, "a GetItem answer from \(request.tableName) could not be read")
                }
                self.itemFlights.complete(flight, with: .failed)
                self.forgetIfMissing(answer, tables: [request.tableName])
                // An answer the proxy cannot read to the request it rewrote is not the caller's to see.
                if body != nil, answer.isSuccess { return nil }
                return self.response(for: answer).marked(.miss)
            }
            let entry = self.storeFill(
                upstream,
                parsed: parsed,
                exact: ConsumedCapacityRequest(
                    returnConsumedCapacity: request.returnConsumedCapacity,
                    tableName: request.tableName
                ) == nil,
                namespace: call.namespace,
                incarnation: incarnation,
                key: key,
                ticket: ticket
            )
            self.apply([
                .confirmSchema(table: request.tableName, attributes: request.key.attributes.entries.map(\.name))
            ])
            self.itemFlights.complete(flight, with: .entry(entry))
            if plan.isWholeItem {
                return ProxyResponse(upstream: upstream).marked(.miss)
            }
            let projected = GetItemResponse.compose(
                item: parsed.item.map { plan.apply(to: $0) },
                consumedCapacity: nil,
                allocator: self.allocator
            )
            let body = RawMember.appending(
                "ConsumedCapacity",
                from: upstream.body,
                range: request.returnConsumedCapacity == nil
                    ? nil : (try? JSONObject(parsing: upstream.body).member("ConsumedCapacity"))??.range,
                to: projected,
                allocator: self.allocator
            )
            return self.composed(body: body, cacheStatus: .miss)
        }.flatMap { response in
            response.map { call.eventLoop.makeSucceededFuture($0) } ?? self.passThrough(call, status: .miss)
        }
    }

    /// Stores a fetched item (or its absence). `exact` says the upstream body is exactly `{"Item":...}` or `{}`
    /// (no consumed capacity was asked), so it is kept byte for byte, with the checksum `send` already verified;
    /// otherwise the item is cut out of it.
    private func storeFill(
        _ upstream: StorageResponse,
        parsed: GetItemResponse,
        exact: Bool,
        namespace: Namespace,
        incarnation: TableIncarnation,
        key: ItemKey,
        ticket: FillTicket
    ) -> ItemEntry {
        let entry: ItemEntry
        let now = clock()
        let body = upstream.body
        if exact {
            // Verified by `isIntact` unless the body was compressed (then the proxy would not have parsed it).
            let verified =
                upstream.head.headers.contains(name: "content-encoding")
                ? nil : upstream.head.headers.first(name: "x-amz-crc32").flatMap(UInt32.init).map(String.init)
            entry = ItemEntry.copying(
                namespace: namespace, incarnation: incarnation, body: body, itemRange: parsed.itemRange,
                storedAt: now, checksum: verified)
        } else {
            entry = ItemEntry(
                namespace: namespace,
                incarnation: incarnation,
                itemJSON: parsed.itemRange.map {
                    body.getSlice(at: body.readerIndex + $0.lowerBound, length: $0.count)!
                },
                storedAt: now,
                allocator: allocator
            )
        }
        items.completeFill(
            key,
            ticket: ticket,
            value: entry,
            weight: entry.weight,
            expiresAt: expiry(now: now, negative: entry.itemRange == nil, table: key.table)
        )
        return entry
    }

    /// When an entry of `table` stored now expires; TTL 0 means never.
    func expiry(now: UInt64, negative: Bool, table: String) -> UInt64 {
        let ttl = itemTTL(negative: negative, table: table)
        return ttl == 0 ? .max : now &+ ttl
    }

    /// The lifetime of an item entry of `table` (of one saying "no such item" when `negative`); 0 = no expiry.
    func itemTTL(negative: Bool, table: String) -> UInt64 {
        let ttl = negative ? configuration.negativeTTL : configuration.itemTTL
        guard let own = policy(of: table)?.itemTTL else { return ttl }
        guard negative else { return own }
        // A table kept briefly does not remember an absence longer than its items (0 is "never", the longest).
        return own == 0 ? ttl : ttl == 0 ? own : min(own, ttl)
    }

    /// The policy of `table` when it has one of its own (`--table-policy`). The table is read-only after start,
    /// and without policies this is one emptiness check.
    @inline(__always) func policy(of table: String) -> TablePolicy? {
        configuration.tablePolicies.isEmpty ? nil : configuration.tablePolicies[TableName.normalized(table)]
    }

    /// Whether reads of `table` may be answered from memory.
    @inline(__always) func isCached(_ table: String) -> Bool { policy(of: table)?.cached ?? true }
}
