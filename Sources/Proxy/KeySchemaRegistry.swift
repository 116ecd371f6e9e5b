// Design note: what the proxy knows of each table's primary key, and why that keeps PutItem coherent.
//
// A PutItem carries a whole item, not its key; to find the entry it replaces, the proxy must know which
// attributes form the table's key. It cannot ask the storage server (it holds the caller's signature, not the
// caller's secret), so it learns from the callers' own keyed requests:
// - before a GetItem/BatchGetItem miss creates its lease, the request's key attribute names are noted as the
//   table's *candidate* schema; a successful read *confirms* it (DynamoDB rejects keys that do not match the
//   schema, so a successful read proves it). DescribeTable/CreateTable answers passing through confirm it too.
// - a write derives keys with the schema known when it *completes*, not when it began. Every entry and lease
//   of a table is created after its candidate schema is noted, so a write that finds no schema at completion
//   has nothing to replace, and one that raced with a first miss finds the candidate and drops that key.
// - a candidate schema only ever drops entries (a wrong guess must not store an item under a wrong key); only
//   a confirmed schema lets a PutItem store the item.
// - table operations and ResourceNotFoundException forget the table, and the caller drops its entries.

import DynamoWire
import Synchronization

/// The key attributes of each table seen, candidate or confirmed. See the design note above.
final class KeySchemaRegistry: Sendable {
    /// What is known of one table's key.
    struct Schema: Equatable, Sendable {
        /// Proven key attribute names, hash key first.
        var confirmed: [String]?
        /// Unproven guesses, each from a request that may still fail; all are kept, since any of them may have
        /// leases in flight that a write must drop.
        var candidates: [[String]] = []

        /// Every attribute list under which entries or leases of the table may exist.
        var possibleKeys: [[String]] { confirmed.map { [$0] } ?? candidates }
    }

    /// Bounds memory against clients that name endless tables; past it, new tables are simply not cached.
    private let maxTables: Int
    /// A table whose keyed reads disagree this often about its key is not cached until a read succeeds.
    private static let maxCandidates = 4
    private let tables = Mutex<[String: Schema]>([:])

    init(maxTables: Int = 100_000) {
        self.maxTables = maxTables
    }

    func schema(of table: String) -> Schema? {
        tables.withLock { $0[table] }
    }

    /// Notes `attributes` as a candidate key of `table` before a miss creates its lease. Returns false when the
    /// proxy must not cache this request: the table is not tracked (limit reached), the names contradict a
    /// confirmed schema, or there are too many conflicting guesses.
    func noteCandidate(_ table: String, attributes: [String]) -> Bool {
        tables.withLock { tables in
            // The common case on every cached read: the confirmed key, named in the same order.
            if let confirmed = tables[table]?.confirmed, confirmed == attributes { return true }
            var schema = tables[table] ?? Schema()
            if tables[table] == nil && tables.count >= maxTables { return false }
            if let confirmed = schema.confirmed { return Self.sameNames(confirmed, attributes) }
            if schema.candidates.contains(where: { Self.sameNames($0, attributes) }) { return true }
            guard schema.candidates.count < Self.maxCandidates else { return false }
            schema.candidates.append(attributes)
            tables[table] = schema
            return true
        }
    }

    /// Key attribute lists are one or two names; equal as sets.
    private static func sameNames(_ a: [String], _ b: [String]) -> Bool {
        a.count == b.count && (a == b || (a.count == 2 && a[0] == b[1] && a[1] == b[0]))
    }

    /// Records a schema proven by a successful keyed read or by the table's description.
    func confirm(_ table: String, attributes: [String]) {
        tables.withLock { tables in
            guard tables[table] != nil || tables.count < maxTables else { return }
            tables[table] = Schema(confirmed: attributes)
        }
    }

    func forget(_ table: String) {
        _ = tables.withLock { $0.removeValue(forKey: table) }
    }

    func forgetAll() {
        tables.withLock { $0.removeAll() }
    }
}
