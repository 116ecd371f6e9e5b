import CacheCore
import DynamoWire
import NIOCore

extension DynamoProxy {
    /// PutItem: on success the entry becomes the request's item, when the table's key is confirmed; otherwise
    /// every key the item could have under the candidate schemas is dropped.
    func putItem(_ call: Call) -> ProxyOutcome {
        guard let request = try? PutItemRequest(call.object) else {
            return .deferred(unparsedWrite(call))
        }
        let table = request.tableName
        let begun = confirmedKey(of: request.item, in: table).map { ($0, items.beginWrite($0, now: clock())) }
        return .deferred(
            send(call).map { answer in
                self.afterWrite([(table, self.keyValues(ofItem: request.item, in: table))])
                let outcome = WriteOutcome(answer)
                switch outcome {
                case .applied:
                    self.completePut(item: request.item, table: table, begun: begun, namespace: call.namespace)
                case .notApplied:
                    break
                case .tableNotFound:
                    self.flush(table: table, cause: .notFound)
                case .conditionFailed, .unknown:
                    self.statistics.invalidated(outcome == .unknown ? .unknownOutcome : .conditionFailed)
                    self.dropEveryKey(of: request.item, in: table)
                }
                return self.response(for: answer).marked(.write)
            }
        )
    }

    /// UpdateItem: when the caller asked NONE or ALL_NEW, the proxy asks for ALL_NEW (no extra read capacity),
    /// stores it, and answers what the caller asked; other ReturnValues evict the key.
    func updateItem(_ call: Call) -> ProxyOutcome {
        guard let request = try? KeyedWriteRequest(call.object) else {
            return .deferred(unparsedWrite(call))
        }
        let key = ItemKey(table: request.tableName, key: request.key.canonical)
        let returnValues = request.returnValues ?? "NONE"
        let refresh = returnValues == "ALL_NEW" || (returnValues == "NONE" && configuration.rewriteRequests)
        let ticket = refresh ? items.beginWrite(key, now: clock()) : nil
        let body =
            refresh && returnValues == "NONE"
            ? call.object.rewritten(removing: [], setting: [("ReturnValues", "\"ALL_NEW\"")], allocator: allocator)
            : nil
        return .deferred(
            send(call, body: body).map { answer in
                self.afterWrite([(request.tableName, request.key.attributes.entries.map(\.value))])
                let outcome = WriteOutcome(answer)
                guard outcome == .applied, case .response(let upstream) = answer else {
                    self.afterFailedWrite(outcome, keys: [key], table: request.tableName)
                    return self.response(for: answer).marked(.write)
                }
                self.confirmSchema(request.tableName, attributes: request.key.attributes.entries.map(\.name))
                guard let ticket, let parsed = try? UpdateItemResponse(parsing: upstream.body),
                    let range = parsed.attributesRange
                else {
                    self.items.invalidate(key)
                    return ProxyResponse(upstream: upstream).marked(.write)
                }
                let entry = ItemEntry(
                    namespace: call.namespace,
                    itemJSON: upstream.body.getSlice(
                        at: upstream.body.readerIndex + range.lowerBound, length: range.count)!,
                    allocator: self.allocator
                )
                self.completeWrite(key, ticket: ticket, entry: entry)
                guard returnValues == "NONE" else { return ProxyResponse(upstream: upstream).marked(.write) }
                // The caller asked for nothing back: answer without the attributes the proxy asked for.
                var response = ProxyResponse(upstream: upstream)
                response.body = UpdateItemResponse.removingAttributes(from: upstream.body, allocator: self.allocator)
                response.headers.replaceOrAdd(name: "x-amz-crc32", value: String(CRC32.checksum(response.body)))
                return response.marked(.write)
            }
        )
    }

    /// DeleteItem: on success the entry records that the item does not exist.
    func deleteItem(_ call: Call) -> ProxyOutcome {
        guard let request = try? KeyedWriteRequest(call.object) else {
            return .deferred(unparsedWrite(call))
        }
        let key = ItemKey(table: request.tableName, key: request.key.canonical)
        let ticket = items.beginWrite(key, now: clock())
        return .deferred(
            send(call).map { answer in
                self.afterWrite([(request.tableName, request.key.attributes.entries.map(\.value))])
                let outcome = WriteOutcome(answer)
                if outcome == .applied {
                    self.confirmSchema(request.tableName, attributes: request.key.attributes.entries.map(\.name))
                    self.completeWrite(key, ticket: ticket, entry: ItemEntry.absent(namespace: call.namespace))
                } else {
                    self.afterFailedWrite(outcome, keys: [key], table: request.tableName)
                }
                return self.response(for: answer).marked(.write)
            }
        )
    }

    /// BatchWriteItem: processed puts and deletes as single writes; what comes back unprocessed is untouched.
    func batchWriteItem(_ call: Call) -> ProxyOutcome {
        guard let request = try? BatchWriteItemRequest(call.object) else {
            return .deferred(unparsedWrite(call))
        }
        var deletes: [(ItemKey, WriteTicket)] = []
        var puts: [(table: String, item: AttributeMap, begun: (ItemKey, WriteTicket)?)] = []
        let now = clock()
        for table in request.tables {
            for key in table.deletes {
                let itemKey = ItemKey(table: table.tableName, key: key.canonical)
                deletes.append((itemKey, items.beginWrite(itemKey, now: now)))
            }
            for item in table.puts {
                let begun = confirmedKey(of: item, in: table.tableName).map { ($0, items.beginWrite($0, now: now)) }
                puts.append((table.tableName, item, begun))
            }
        }
        return .deferred(
            send(call).map { [deletes, puts] answer in
                self.afterWrite(
                    request.tables.map { table in
                        var values: [AttributeValue]? = table.deletes.flatMap { $0.attributes.entries.map(\.value) }
                        for item in table.puts {
                            values = self.keyValues(ofItem: item, in: table.tableName).flatMap { item in
                                values.map { $0 + item }
                            }
                        }
                        return (table.tableName, values)
                    }
                )
                let outcome = WriteOutcome(answer)
                guard outcome == .applied, case .response(let upstream) = answer,
                    let parsed = try? BatchWriteItemResponse(parsing: upstream.body)
                else {
                    self.afterFailedWrite(
                        outcome == .applied ? .unknown : outcome,
                        keys: deletes.map(\.0),
                        table: nil
                    )
                    if outcome != .notApplied {
                        for put in puts { self.dropEveryKey(of: put.item, in: put.table) }
                    }
                    if outcome == .tableNotFound {
                        for table in request.tables { self.flush(table: table.tableName, cause: .notFound) }
                    }
                    return self.response(for: answer).marked(.write)
                }
                // Unprocessed requests were not written: their entries stay as they are.
                var unprocessed = Set<ItemKey>()
                for table in parsed.unprocessed {
                    for key in table.deletes { unprocessed.insert(ItemKey(table: table.tableName, key: key.canonical)) }
                    for item in table.puts {
                        if let key = self.confirmedKey(of: item, in: table.tableName) { unprocessed.insert(key) }
                    }
                }
                for (key, ticket) in deletes where !unprocessed.contains(key) {
                    self.completeWrite(key, ticket: ticket, entry: ItemEntry.absent(namespace: call.namespace))
                }
                for put in puts where put.begun.map({ !unprocessed.contains($0.0) }) ?? true {
                    self.completePut(item: put.item, table: put.table, begun: put.begun, namespace: call.namespace)
                }
                return ProxyResponse(upstream: upstream).marked(.write)
            }
        )
    }

    /// TransactWriteItems: success refreshes puts and deletes and evicts updated keys; any failure evicts every
    /// key the transaction named.
    func transactWriteItems(_ call: Call) -> ProxyOutcome {
        guard let request = try? TransactWriteItemsRequest(call.object) else {
            return .deferred(unparsedWrite(call))
        }
        let now = clock()
        let begun: [(TransactWriteItemsRequest.Item, (ItemKey, WriteTicket)?)] = request.items.map { item in
            switch item.action {
            case .put(let attributes):
                return (
                    item, confirmedKey(of: attributes, in: item.tableName).map { ($0, items.beginWrite($0, now: now)) }
                )
            case .delete(let key):
                let itemKey = ItemKey(table: item.tableName, key: key.canonical)
                return (item, (itemKey, items.beginWrite(itemKey, now: now)))
            case .update, .conditionCheck:
                return (item, nil)
            }
        }
        return .deferred(
            send(call).map { answer in
                self.afterWrite(
                    request.items.map { item in
                        switch item.action {
                        case .put(let attributes):
                            (item.tableName, self.keyValues(ofItem: attributes, in: item.tableName))
                        case .update(let key), .delete(let key), .conditionCheck(let key):
                            (item.tableName, key.attributes.entries.map(\.value))
                        }
                    }
                )
                let applied = WriteOutcome(answer) == .applied
                for (item, started) in begun {
                    switch item.action {
                    case .put(let attributes):
                        if applied {
                            self.completePut(
                                item: attributes, table: item.tableName, begun: started, namespace: call.namespace)
                        } else {
                            self.dropEveryKey(of: attributes, in: item.tableName)
                        }
                    case .delete(let key):
                        let itemKey = ItemKey(table: item.tableName, key: key.canonical)
                        if applied, let (_, ticket) = started {
                            self.completeWrite(
                                itemKey, ticket: ticket, entry: ItemEntry.absent(namespace: call.namespace))
                        } else {
                            self.items.invalidate(itemKey)
                        }
                    case .update(let key), .conditionCheck(let key):
                        if !applied || item.action.isUpdate {
                            self.items.invalidate(ItemKey(table: item.tableName, key: key.canonical))
                        }
                    }
                }
                if answer.errorCode == "ResourceNotFoundException" {
                    for item in request.items { self.flush(table: item.tableName, cause: .notFound) }
                }
                return self.response(for: answer).marked(.write)
            }
        )
    }

    // MARK: Shared steps

    /// A write the proxy could not read (DynamoDB will most likely refuse it too). Should the storage server
    /// accept it after all, the proxy cannot know what changed: it drops the whole table, or everything.
    func unparsedWrite(_ call: Call) -> EventLoopFuture<ProxyResponse> {
        send(call).map { answer in
            if WriteOutcome(answer) != .notApplied {
                self.flush(table: (try? call.object.tableName()).flatMap { $0 }, cause: .unknownOutcome)
            }
            return self.response(for: answer).marked(.write)
        }
    }

    /// The item's key when the table's key schema is confirmed.
    func confirmedKey(of item: AttributeMap, in table: String) -> ItemKey? {
        guard let names = tables.schema(of: table)?.confirmed, let key = item.primaryKey(named: names) else {
            return nil
        }
        return ItemKey(table: table, key: key)
    }

    /// An acknowledged put: store the item when the key is confirmed now, the write was tracked from its start
    /// under that key, and the item is spelled as the storage server keeps it; otherwise drop every key the item
    /// could have, so the next read fetches the server's own copy.
    ///
    /// The item is re-encoded from its parsed form rather than copied from the request, so members DynamoDB
    /// ignores (a `null` datatype, an unknown one) never reach a reader.
    func completePut(item: AttributeMap, table: String, begun: (ItemKey, WriteTicket)?, namespace: Namespace) {
        guard let key = confirmedKey(of: item, in: table), let (startedKey, ticket) = begun, startedKey == key else {
            dropEveryKey(of: item, in: table)
            return
        }
        guard item.isInStoredForm else {
            statistics.invalidated(.nonCanonical)
            dropEveryKey(of: item, in: table)
            return
        }
        var json = allocator.buffer(capacity: 256)
        item.encode(into: &json)
        completeWrite(key, ticket: ticket, entry: ItemEntry(namespace: namespace, itemJSON: json, allocator: allocator))
    }

    /// Drops the item's key under every schema the table may have entries for (confirmed or candidates).
    func dropEveryKey(of item: AttributeMap, in table: String) {
        for names in tables.schema(of: table)?.possibleKeys ?? [] {
            if let key = item.primaryKey(named: names) { items.invalidate(ItemKey(table: table, key: key)) }
        }
    }

    func completeWrite(_ key: ItemKey, ticket: WriteTicket, entry: ItemEntry) {
        let now = clock()
        items.completeWrite(
            key,
            ticket: ticket,
            value: entry,
            weight: entry.weight,
            expiresAt: expiry(now: now, negative: entry.itemRange == nil),
            now: now
        )
    }

    /// Applies a failed write's outcome to the keys it touched.
    func afterFailedWrite(_ outcome: WriteOutcome, keys: [ItemKey], table: String?) {
        switch outcome {
        case .applied, .notApplied:
            break
        case .tableNotFound:
            if let table { flush(table: table, cause: .notFound) }
            for key in keys { items.invalidate(key) }
        case .conditionFailed, .unknown:
            statistics.invalidated(outcome == .unknown ? .unknownOutcome : .conditionFailed)
            for key in keys { items.invalidate(key) }
        }
    }
}

extension TransactWriteItemsRequest.Item.Action {
    var isUpdate: Bool {
        if case .update = self { return true }
        return false
    }
}

extension ItemEntry {
    /// The entry recording that an item does not exist.
    static func absent(namespace: Namespace) -> ItemEntry {
        ItemEntry(namespace: namespace, itemJSON: nil, allocator: ByteBufferAllocator())
    }
}
