// Design note: what the proxy knows of each table, and why that keeps PutItem and the query cache coherent.
//
// Key tables. A PutItem carries a whole item, not its key; to find the entry it replaces, the proxy must know
// which attributes form the table's key. It cannot ask the storage server (it holds the caller's signature, not
// the caller's secret), so it learns from the callers' own keyed requests:
// - before a GetItem/BatchGetItem miss creates its lease, the request's key attribute names are noted as a
//   *candidate* schema of the table; a successful read *confirms* it (DynamoDB rejects keys that do not match
//   the schema). DescribeTable/CreateTable answers passing through confirm it too.
// - a write derives keys with the schema known when it *completes*, not when it began. Every entry and lease of
//   a table is created after a candidate schema is noted, so a write that finds no schema at completion has
//   nothing to replace, and one that raced with a first miss finds the candidate and drops that key.
// - a candidate only ever drops entries (a wrong guess must not store an item under a wrong key); only a
//   confirmed schema lets a PutItem store the item.
// - table operations and ResourceNotFoundException forget the table.
//
// Incarnations. Every item entry records the table's incarnation current when its fill or write began, and is
// served only while that incarnation lasts. Forgetting a table, or dropping its items, ends the incarnation: one
// atomic store, however many entries the table has (the stores reclaim them lazily). A forgotten table leaves
// the registry; seen again, it starts a new incarnation, so the registry stays bounded by the tables in use.
//
// Query generations. A Scan or index Query page may depend on any item of its table, so it is stamped with the
// table's generation when its fetch begins, stored only if the stamp still holds when the answer arrives, and
// served only while it holds. A base-table Query names its partition (`pk = :v`), so its page is stamped instead
// with the table's epoch and the generations of the partition buckets its equality values fall in. Every write
// through the proxy moves, after the storage server answers and before the client is answered: the table's
// generation, and the buckets of the key values it wrote — or, when it cannot tell them (PartiQL, an unknown key
// schema), the epoch, which stales every page of the table. Hashing values into a few hundred buckets bounds
// memory; a collision only costs a hit. Generations come from one counter per stripe, which only grows, so a
// table that is forgotten and seen again never repeats an old stamp.
//
// Stream gates. With `--streams`, every table in scope has a gate (StreamGate.swift) that its follower opens while
// it is current; while it is closed the table is not cached at all: reads pass through and fills store nothing.
// Gates outlive forgetting (the follower keeps its place), so they are kept apart from the tables, bounded alike.
//
// Concurrency: tables are spread over stripes by a hash of their name, each with its own Mutex; nothing here is
// global. No caller holds a stripe lock while taking another lock.

import DynamoWire
import Synchronization

/// One life of a table in the item cache (see the design note). Ends once and never restarts.
final class TableIncarnation: Sendable {
    private let ended = Atomic<Bool>(false)

    /// Whether the table was forgotten, or its items dropped, since this incarnation began.
    var hasEnded: Bool { ended.load(ordering: .acquiring) }

    func end() { ended.store(true, ordering: .releasing) }
}

/// What the proxy knows of each table: its key schema, candidate or confirmed, and its query generation.
final class TableRegistry: Sendable {
    /// What is known of one table's key.
    struct Schema: Equatable, Sendable {
        /// Proven key attribute names (hash key first when learnt from a description).
        var confirmed: [String]?
        /// Unproven guesses, each from a request that may still fail; all are kept, since any of them may have
        /// leases in flight that a write must drop.
        var candidates: [[String]] = []

        /// Every attribute list under which entries or leases of the table may exist.
        var possibleKeys: [[String]] { confirmed.map { [$0] } ?? candidates }
    }

    private struct Table {
        var schema = Schema()
        /// The item entries' incarnation: replaced when the table's items are dropped.
        var incarnation = TableIncarnation()
        /// Moves with every write: Scans and index Queries are stamped with it.
        var generation: UInt64
        /// Moves with writes whose partitions are unknown: base-table Queries are stamped with it and their buckets.
        var epoch: UInt64
        /// Per partition bucket; allocated on the first partition stamp or write.
        var buckets: [UInt64] = []
        /// The table's stream gate; nil when its stream is not followed.
        let gate: StreamGate?
        /// Pages fetched before these times (monotonic nanoseconds) are not stored: the table changed
        /// elsewhere just before, and an eventually consistent read may not show it yet. Scans and index
        /// Queries depend on every item; a base-table Query only on its partitions' buckets.
        var scanPagesFencedUntil: UInt64 = 0
        var bucketFences: [UInt64] = []

        init(generation: UInt64, gate: StreamGate?) {
            self.generation = generation
            epoch = generation
            self.gate = gate
        }

        /// Whether the table may be cached at `now`.
        func isServable(now: UInt64) -> Bool { gate?.isOpen(now: now) ?? true }

        /// Whether its Scan and index Query pages may be cached at `now`.
        func scanPagesServable(now: UInt64) -> Bool { now >= scanPagesFencedUntil && isServable(now: now) }

        /// Whether its base-table Query pages of the partitions hashing to `values` may be cached at `now`.
        func queryPagesServable(_ values: [UInt64], now: UInt64) -> Bool {
            guard isServable(now: now) else { return false }
            guard !bucketFences.isEmpty else { return true }
            return values.allSatisfy { now >= bucketFences[Int($0 % UInt64(TableRegistry.bucketCount))] }
        }
    }

    /// Partition buckets per table.
    static let bucketCount = 256

    private struct Stripe {
        var tables: [String: Table] = [:]
        var gates: [String: StreamGate] = [:]
        var counter: UInt64 = 1
        /// A gate made since the registry last announced one.
        var newGate: String?

        mutating func table(_ name: String, limit: Int, streams: StreamScope?) -> Table? {
            if let table = tables[name] { return table }
            guard tables.count < limit else { return nil }
            let table = Table(generation: counter, gate: gate(name, limit: limit, streams: streams))
            tables[name] = table
            return table
        }

        /// The table's gate, made closed on first sight; a shared closed gate past the limit (never served).
        mutating func gate(_ name: String, limit: Int, streams: StreamScope?) -> StreamGate? {
            guard let streams, streams.contains(name) else { return nil }
            if let gate = gates[name] { return gate }
            guard gates.count < limit else { return TableRegistry.closedGate }
            let gate = StreamGate()
            gates[name] = gate
            newGate = name
            return gate
        }
    }

    /// The gate of tables past the limit: never opened.
    static let closedGate = StreamGate(permanentlyClosed: true)

    private final class Lock: Sendable {
        let stripe = Mutex(Stripe())
    }

    /// Bounds memory against clients that name endless tables; past it, new tables are simply not cached.
    private let maxTablesPerStripe: Int
    /// A table whose keyed reads disagree this often about its key is not cached until a read succeeds.
    private static let maxCandidates = 4
    private let stripes: [Lock]
    /// Whose streams are followed; nil: none.
    private let streams: StreamScope?
    /// Told of each table whose stream is to be followed, once, outside any lock.
    private let newStreamTable: @Sendable (String) -> Void

    init(
        maxTables: Int = 100_000, stripes: Int = 16, streams: StreamScope? = nil,
        newStreamTable: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        maxTablesPerStripe = max(1, maxTables / stripes)
        self.stripes = (0..<stripes).map { _ in Lock() }
        self.streams = streams
        self.newStreamTable = newStreamTable
    }

    private func lock(_ table: String) -> Lock {
        stripes[Int(TableGroup.of(table) % UInt64(stripes.count))]
    }

    /// Runs `body` under the table's stripe lock, then announces a gate it made.
    private func withStripe<T>(_ table: String, _ body: (inout Stripe) -> T) -> T {
        let (result, announced) = lock(table).stripe.withLock { stripe in
            let result = body(&stripe)
            defer { stripe.newGate = nil }
            return (result, stripe.newGate)
        }
        if let announced { newStreamTable(announced) }
        return result
    }

    // MARK: Stream gates

    /// The gate of `table`, made (and announced) if it is in scope and has none; nil when its stream is not
    /// followed.
    func streamGate(of table: String) -> StreamGate? {
        let limit = maxTablesPerStripe
        let streams = streams
        let gate = withStripe(table) { $0.gate(table, limit: limit, streams: streams) }
        return gate?.isPermanentlyClosed == true ? nil : gate
    }

    /// The gate of `table` if it has one; makes none.
    func existingStreamGate(of table: String) -> StreamGate? {
        lock(table).stripe.withLock { $0.gates[table] }
    }

    /// Forgets the gate of a table that does not exist: seen again, it gets a new one (and a new follower).
    func removeStreamGate(of table: String) {
        lock(table).stripe.withLock { stripe in
            stripe.gates.removeValue(forKey: table)?.close()
            // Its entry holds the old gate: forget it too, so the next sighting takes the new one.
            stripe.counter += 1
            stripe.tables.removeValue(forKey: table)?.incarnation.end()
        }
    }

    // MARK: Key schemas

    func schema(of table: String) -> Schema? {
        lock(table).stripe.withLock { $0.tables[table]?.schema }
    }

    /// Notes `attributes` as a candidate key of `table` before a miss creates its lease, and returns the table's
    /// incarnation for the entry the miss may fill. Nil when the proxy must not cache this request: the table is
    /// not tracked (limit reached), its stream gate is closed at `now`, the names contradict a confirmed schema, or
    /// there are too many conflicting guesses.
    func noteCandidate(_ table: String, attributes: [String], now: UInt64) -> TableIncarnation? {
        let limit = maxTablesPerStripe
        let streams = streams
        return withStripe(table) { stripe in
            // The common case on every cached read: the confirmed key, named in the same order.
            if let known = stripe.tables[table], let confirmed = known.schema.confirmed, confirmed == attributes {
                return known.isServable(now: now) ? known.incarnation : nil
            }
            guard var entry = stripe.table(table, limit: limit, streams: streams), entry.isServable(now: now) else {
                return nil
            }
            defer { stripe.tables[table] = entry }
            if let confirmed = entry.schema.confirmed {
                return Self.sameNames(confirmed, attributes) ? entry.incarnation : nil
            }
            if entry.schema.candidates.contains(where: { Self.sameNames($0, attributes) }) { return entry.incarnation }
            guard entry.schema.candidates.count < Self.maxCandidates else { return nil }
            entry.schema.candidates.append(attributes)
            return entry.incarnation
        }
    }

    /// The incarnation a write of `table` begins under (the table is tracked from now on), and its stream gate;
    /// nil when the table cannot be tracked, and then the write stores nothing.
    func incarnation(of table: String) -> (incarnation: TableIncarnation, gate: StreamGate?)? {
        let limit = maxTablesPerStripe
        let streams = streams
        return withStripe(table) { stripe in
            guard let entry = stripe.table(table, limit: limit, streams: streams) else { return nil }
            stripe.tables[table] = entry
            return (entry.incarnation, entry.gate)
        }
    }

    /// Records a schema proven by a successful keyed request or by the table's description. When it replaces a
    /// different confirmed schema, entries may exist under the old key names, which writes would no longer find:
    /// the table's items and pages are dropped, and it returns true. (Callers whose requests reach different
    /// databases — other keys or regions of a local server — can each prove another schema for one table name.)
    @discardableResult
    func confirm(_ table: String, attributes: [String]) -> Bool {
        let limit = maxTablesPerStripe
        let streams = streams
        return withStripe(table) { stripe in
            guard var entry = stripe.table(table, limit: limit, streams: streams) else { return false }
            let replaced = entry.schema.confirmed.map { !Self.sameNames($0, attributes) } ?? false
            if replaced {
                entry.incarnation.end()
                stripe.counter += 1
                entry = Table(generation: stripe.counter, gate: entry.gate)
            }
            entry.schema = Schema(confirmed: attributes)
            stripe.tables[table] = entry
            return replaced
        }
    }

    /// Key attribute lists are one or two names; equal as sets.
    private static func sameNames(_ a: [String], _ b: [String]) -> Bool {
        a.count == b.count && (a == b || (a.count == 2 && a[0] == b[1] && a[1] == b[0]))
    }

    // MARK: Query generations

    /// The stamp of a Scan or index Query page of `table`; nil when the table is not tracked or its stream gate
    /// is closed at `now`.
    func stamp(of table: String, now: UInt64) -> [UInt64]? {
        let limit = maxTablesPerStripe
        let streams = streams
        return withStripe(table) { stripe in
            guard let entry = stripe.tables[table] ?? stripe.table(table, limit: limit, streams: streams),
                entry.scanPagesServable(now: now)
            else { return nil }
            stripe.tables[table] = entry
            return [entry.generation]
        }
    }

    /// The stamp of a base-table Query page that reads only the partitions whose key values hash to `values`.
    func stamp(of table: String, partitions values: [UInt64], now: UInt64) -> [UInt64]? {
        let limit = maxTablesPerStripe
        let streams = streams
        return withStripe(table) { stripe in
            guard var entry = stripe.tables[table] ?? stripe.table(table, limit: limit, streams: streams),
                entry.queryPagesServable(values, now: now)
            else { return nil }
            if entry.buckets.isEmpty { entry.buckets = Array(repeating: entry.epoch, count: Self.bucketCount) }
            stripe.tables[table] = entry
            return [entry.epoch] + values.map { entry.buckets[Int($0 % UInt64(Self.bucketCount))] }
        }
    }

    /// Whether a page stamped `stamp` is still current at `now`; `partitions` as given when it was stamped.
    func isCurrent(_ stamp: [UInt64], table: String, partitions values: [UInt64]?, now: UInt64) -> Bool {
        guard
            let current = values.map({ self.stamp(of: table, partitions: $0, now: now) })
                ?? self.stamp(of: table, now: now)
        else {
            return false
        }
        return current == stamp
    }

    /// Moves `table`'s stamps after a write to it: its generation, and the buckets of the key values written
    /// (`partitions`), or its epoch when they are unknown (nil).
    func advance(_ table: String, partitions values: [UInt64]?) {
        lock(table).stripe.withLock { stripe in
            stripe.counter += 1
            let counter = stripe.counter
            guard stripe.tables[table] != nil else { return }
            stripe.tables[table]!.generation = counter
            if let values, !stripe.tables[table]!.buckets.isEmpty {
                for value in values { stripe.tables[table]!.buckets[Int(value % UInt64(Self.bucketCount))] = counter }
            } else if values == nil {
                stripe.tables[table]!.epoch = counter
            }
        }
    }

    /// Stores no page fetched before `deadline` that may hold the items of these partitions (key value
    /// hashes; nil: any) of `table`: they changed elsewhere just before (seen in its stream).
    func fencePages(of table: String, partitions values: [UInt64]?, until deadline: UInt64) {
        let limit = maxTablesPerStripe
        let streams = streams
        withStripe(table) { stripe in
            guard var entry = stripe.table(table, limit: limit, streams: streams) else { return }
            entry.scanPagesFencedUntil = max(entry.scanPagesFencedUntil, deadline)
            if entry.bucketFences.isEmpty { entry.bucketFences = Array(repeating: 0, count: Self.bucketCount) }
            if let values {
                for value in values {
                    let bucket = Int(value % UInt64(Self.bucketCount))
                    entry.bucketFences[bucket] = max(entry.bucketFences[bucket], deadline)
                }
            } else {
                entry.bucketFences = entry.bucketFences.map { max($0, deadline) }
            }
            stripe.tables[table] = entry
        }
    }

    /// Moves every table's generation and epoch (a write whose tables the proxy cannot tell).
    func advanceAll() {
        for lock in stripes {
            lock.stripe.withLock { stripe in
                stripe.counter += 1
                for name in stripe.tables.keys {
                    stripe.tables[name]!.generation = stripe.counter
                    stripe.tables[name]!.epoch = stripe.counter
                }
            }
        }
    }

    // MARK: Forgetting

    /// Forgets the table: its schema, its items (its incarnation ends) and its pages (seen again, it starts from
    /// a generation never used before). O(1) however much of it is cached.
    func forget(_ table: String) {
        lock(table).stripe.withLock { stripe in
            stripe.counter += 1
            stripe.tables.removeValue(forKey: table)?.incarnation.end()
        }
    }

    /// Forgets every table; O(tables), never O(entries).
    func forgetAll() {
        for lock in stripes {
            lock.stripe.withLock { stripe in
                stripe.counter += 1
                for table in stripe.tables.values { table.incarnation.end() }
                stripe.tables.removeAll()
            }
        }
    }

    /// Drops the table's items (a new incarnation) but keeps its schema and query stamps (PartiQL writes, which
    /// stale its pages separately).
    func dropItems(of table: String) {
        lock(table).stripe.withLock { stripe in
            guard let current = stripe.tables[table] else { return }
            current.incarnation.end()
            stripe.tables[table]!.incarnation = TableIncarnation()
        }
    }

    /// Drops every table's items, keeping schemas and query stamps.
    func dropAllItems() {
        for lock in stripes {
            lock.stripe.withLock { stripe in
                for name in stripe.tables.keys {
                    stripe.tables[name]!.incarnation.end()
                    stripe.tables[name]!.incarnation = TableIncarnation()
                }
            }
        }
    }
}
