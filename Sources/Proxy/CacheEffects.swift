// Design note: cache effects, planned as data and applied in one place.
//
// What a write (or a table operation, or a read that met a missing table) does to the caches is decided by a
// plan (WritePlans.swift): a pure value built from the parsed request and the tables' key schemas. Before the
// request is sent it names the keys whose writes begin (their fills in flight can no longer land); from the
// storage server's answer it lists `CacheEffect`s. `apply` is the one place effects reach the stores and the
// table registry, so every rule of the coherence design note (DynamoProxy.swift) is visible in a plan, and plans
// are tested as plain functions, without an event loop.
//
// A store effect lands only under the write ticket its key's write began with, and the entry records the
// table incarnation of that moment: a write that overlapped another write, an invalidation, or a drop of its
// table stores nothing anyone is served.

import CacheCore
import DynamoWire
import NIOCore

/// A change to the caches, decided by a plan.
enum CacheEffect: Equatable, Sendable {
    /// The written item becomes the entry of its key (encoded from the request's item).
    case storeItem(ItemKey, AttributeMap)
    /// The item as the storage server answered it (UpdateItem's ALL_NEW attributes) becomes the entry.
    case storeItemJSON(ItemKey, ByteBuffer)
    /// The entry records that the item does not exist.
    case storeAbsent(ItemKey)
    /// The entry, and any fill of it in flight, are dropped.
    case evict(ItemKey)
    /// A change made elsewhere, seen in the table's stream: the item became `image` (nil: it was removed) at
    /// `changedAt` (monotonic nanoseconds). An entry stored long enough before that becomes the image; any other
    /// entry, and every fill and write of the key in flight, are dropped; a key not held stays unheld.
    case refresh(ItemKey, image: ByteBuffer?, changedAt: UInt64)
    /// The key (and its table's pages) changed elsewhere at `changedAt`: fills that begin soon after are
    /// answered but not stored (see `ProxyConfiguration.streamFillFence`).
    case fence(ItemKey, partitions: [UInt64]?, changedAt: UInt64)
    /// Pages of the table that may hold items of these partitions (hashes of key values; nil: any) are stale.
    case stalePages(table: String, partitions: [UInt64]?)
    /// Every page is stale.
    case staleAllPages
    /// A keyed request succeeded with these key attributes: the table's schema is proven (when it replaces a
    /// different one, the table's items and pages are dropped).
    case confirmSchema(table: String, attributes: [String])
    /// The table's items are dropped; its schema and pages stay.
    case dropItems(table: String)
    /// Every table's items are dropped.
    case dropAllItems
    /// The table is forgotten: schema, items and pages.
    case forgetTable(String, InvalidationCause)
    /// Every table is forgotten.
    case forgetAllTables(InvalidationCause)
    /// Counted in the invalidation metrics only.
    case count(InvalidationCause)
}

/// The key schemas of the tables a request names, as the registry held them at one moment.
struct SchemaSnapshot: Sendable {
    var schemas: [String: TableRegistry.Schema]

    init(_ schemas: [String: TableRegistry.Schema] = [:]) {
        self.schemas = schemas
    }

    /// The item's key under the table's confirmed schema; nil when none is confirmed.
    func confirmedKey(of item: AttributeMap, in table: String) -> ItemKey? {
        guard let names = schemas[table]?.confirmed, let key = item.primaryKey(named: names) else { return nil }
        return ItemKey(table: table, key: key)
    }

    /// The item's key under every schema the table may have entries for (confirmed, else each candidate).
    func possibleKeys(of item: AttributeMap, in table: String) -> [ItemKey] {
        (schemas[table]?.possibleKeys ?? []).compactMap { names in
            item.primaryKey(named: names).map { ItemKey(table: table, key: $0) }
        }
    }

    /// The item's key attribute values under the confirmed schema; nil when it is not confirmed. A candidate
    /// comes from a request that may have named the wrong attributes, and a partition the proxy gets wrong would
    /// leave that partition's pages stale: only a confirmed one is trusted.
    func keyValues(ofItem item: AttributeMap, in table: String) -> [AttributeValue]? {
        guard let names = schemas[table]?.confirmed else { return nil }
        var values: [AttributeValue] = []
        for name in names {
            guard let value = item[name] else { return nil }
            values.append(value)
        }
        return values
    }
}

/// The writes begun for one request: the ticket and table incarnation of each key, and whose entries they make.
struct WriteTickets: Sendable {
    let namespace: Namespace
    fileprivate var held:
        [ItemKey: (ticket: WriteTicket, incarnation: TableIncarnation, gate: StreamGate?, position: UInt64)] = [:]

    init(namespace: Namespace) {
        self.namespace = namespace
    }
}

extension DynamoProxy {
    /// The schemas of `tables` now.
    func schemas(of tables: [String]) -> SchemaSnapshot {
        var snapshot = SchemaSnapshot()
        for table in tables where snapshot.schemas[table] == nil {
            if let schema = self.tables.schema(of: table) { snapshot.schemas[table] = schema }
        }
        return snapshot
    }

    /// Begins the writes of `keys` before their request is sent, so that fills that began earlier cannot land.
    /// A key whose table cannot be tracked gets no ticket, and its store effects evict instead.
    func beginWrites(_ keys: [ItemKey], namespace: Namespace) -> WriteTickets {
        var tickets = WriteTickets(namespace: namespace)
        for key in keys {
            guard let (incarnation, gate) = tables.incarnation(of: key.table) else { continue }
            tickets.held[key] = (items.beginWrite(key), incarnation, gate, gate?.position ?? 0)
        }
        return tickets
    }

    /// Carries out `effects` in order. Store effects need `tickets` (the writes begun for them).
    func apply(_ effects: [CacheEffect], tickets: WriteTickets? = nil) {
        for effect in effects {
            switch effect {
            case .storeItem(let key, let item):
                var json = allocator.buffer(capacity: 256)
                item.encode(into: &json)
                store(key, itemJSON: json, tickets: tickets) { .item(item.fingerprint) }
            case .storeItemJSON(let key, let json):
                store(key, itemJSON: json, tickets: tickets) {
                    (try? AttributeMap(parsing: json)).map { .item($0.fingerprint) }
                }
            case .storeAbsent(let key):
                store(key, itemJSON: nil, tickets: tickets) { .absent }
            case .evict(let key):
                items.invalidate(key)
            case .refresh(let key, let image, let changedAt):
                refresh(key, image: image, changedAt: changedAt)
            case .fence(let key, let partitions, let changedAt):
                // Until the change is surely a second old: its time is rounded down to the second (the clock
                // margin covers that), and it was made before it was received.
                let now = clock()
                let deadline = min(
                    changedAt &+ configuration.streamClockMargin &+ configuration.streamFillFence,
                    now &+ configuration.streamFillFence)
                recentChanges.fence(key, until: deadline, now: now)
                tables.fencePages(of: key.table, partitions: partitions, until: deadline)
            case .stalePages(let table, let partitions):
                guard configuration.queryInvalidation == .write else { continue }
                tables.advance(table, partitions: partitions)
                statistics.invalidated(.write)
            case .staleAllPages:
                if configuration.queryInvalidation == .write { tables.advanceAll() }
            case .confirmSchema(let table, let attributes):
                if tables.confirm(table, attributes: attributes) { statistics.invalidated(.tableOperation) }
            case .dropItems(let table):
                tables.dropItems(of: table)
            case .dropAllItems:
                tables.dropAllItems()
            case .forgetTable(let table, let cause):
                statistics.invalidated(cause)
                tables.forget(TableName.normalized(table))
            case .forgetAllTables(let cause):
                statistics.invalidated(cause)
                tables.forgetAll()
            case .count(let cause):
                statistics.invalidated(cause)
            }
        }
    }

    /// Completes the write of `key` with its new entry (`{}` when `itemJSON` is nil: no such item). When the
    /// table's stream is followed with new images, the write's record is expected: `image` (nil when it cannot
    /// be told) lets the follower recognise it.
    private func store(
        _ key: ItemKey, itemJSON: ByteBuffer?, tickets: WriteTickets?, image: () -> ItemImage?
    ) {
        guard let tickets, let (ticket, incarnation, gate, position) = tickets.held[key] else {
            items.invalidate(key)
            return
        }
        let now = clock()
        if let gate, gate.recognisesOwnWrites, gate.position == position, streamSees(tickets.namespace),
            let image = image()
        {
            ownWrites.note(key, image: image, position: position, now: now)
        }
        guard isCached(key.table) else {
            // Nothing of the table is kept: the write only ends what was in flight.
            items.completeWrite(key, ticket: ticket, value: nil, weight: 0, expiresAt: 0)
            return
        }
        let entry = ItemEntry(
            namespace: tickets.namespace,
            incarnation: incarnation,
            itemJSON: itemJSON,
            storedAt: now,
            allocator: allocator
        )
        items.completeWrite(
            key,
            ticket: ticket,
            value: entry,
            weight: entry.weight,
            expiresAt: expiry(now: now, negative: itemJSON == nil, table: key.table)
        )
    }
}

extension [AttributeValue] {
    /// The partition hashes of these key values, or nil when one cannot be hashed (the pages of any partition
    /// may hold the item).
    var partitionHashes: [UInt64]? {
        var hashes: [UInt64] = []
        for value in self {
            guard let hash = KeyValueHash.of(value) else { return nil }
            hashes.append(hash)
        }
        return hashes
    }
}
