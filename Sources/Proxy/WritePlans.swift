import DynamoWire
import NIOCore

/// What one write does to the caches, decided without touching them (see the design note in
/// CacheEffects.swift): the keys whose writes begin before it is sent, and the effects of its outcome.
protocol WritePlan: Sendable {
    /// The tables whose key schemas `effects` is decided with, read when the answer arrives.
    var tables: [String] { get }
    /// Keys whose writes begin before the request is sent.
    var begins: [ItemKey] { get }
    /// The effects of the storage server's answer. Pages the write may change are always made stale first,
    /// whatever the outcome, before the client is answered.
    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect]
}

/// The rules the plans share.
enum WriteRules {
    /// An acknowledged put: the item becomes its key's entry when the key is confirmed now, the write began
    /// under that same key, and the item is spelled as the storage server keeps it; otherwise every key the item
    /// could have is evicted, so the next read fetches the server's own copy.
    static func acknowledgedPut(
        _ item: AttributeMap,
        table: String,
        begun: ItemKey?,
        schemas: SchemaSnapshot
    ) -> [CacheEffect] {
        guard let key = schemas.confirmedKey(of: item, in: table), key == begun else {
            return everyKey(of: item, in: table, schemas: schemas)
        }
        guard item.isInStoredForm else {
            return [.count(.nonCanonical)] + everyKey(of: item, in: table, schemas: schemas)
        }
        return [.storeItem(key, item)]
    }

    /// Evicts the item's key under every schema the table may have entries for.
    static func everyKey(of item: AttributeMap, in table: String, schemas: SchemaSnapshot) -> [CacheEffect] {
        schemas.possibleKeys(of: item, in: table).map(CacheEffect.evict)
    }

    /// A keyed write that was not acknowledged: nothing changes when the server guarantees nothing was written;
    /// a missing table is forgotten; otherwise (a failed condition, an unknown outcome) the keys are evicted.
    static func failedWrite(_ outcome: WriteOutcome, keys: [ItemKey], table: String?) -> [CacheEffect] {
        switch outcome {
        case .applied, .notApplied:
            return []
        case .tableNotFound:
            return (table.map { [.forgetTable($0, .notFound)] } ?? []) + keys.map(CacheEffect.evict)
        case .conditionFailed:
            return [.count(.conditionFailed)] + keys.map(CacheEffect.evict)
        case .unknown:
            return [.count(.unknownOutcome)] + keys.map(CacheEffect.evict)
        }
    }

    /// The pages an item of `table` with these key values may appear in.
    static func stalePages(_ table: String, keyValues: [AttributeValue]?) -> CacheEffect {
        .stalePages(table: table, partitions: keyValues?.partitionHashes)
    }
}

/// PutItem: on success the entry becomes the request's item (see `WriteRules.acknowledgedPut`).
struct PutItemPlan: WritePlan {
    let request: PutItemRequest
    /// The item's key under the schema confirmed when the write began.
    let begun: ItemKey?

    init(_ request: PutItemRequest, schemas: SchemaSnapshot) {
        self.request = request
        begun = schemas.confirmedKey(of: request.item, in: request.tableName)
    }

    var tables: [String] { [request.tableName] }
    var begins: [ItemKey] { begun.map { [$0] } ?? [] }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        let table = request.tableName
        let item = request.item
        let pages = WriteRules.stalePages(table, keyValues: schemas.keyValues(ofItem: item, in: table))
        switch outcome {
        case .applied:
            return [pages] + WriteRules.acknowledgedPut(item, table: table, begun: begun, schemas: schemas)
        case .notApplied:
            return [pages]
        case .tableNotFound:
            return [pages, .forgetTable(table, .notFound)]
        case .conditionFailed, .unknown:
            let cause: InvalidationCause = outcome == .unknown ? .unknownOutcome : .conditionFailed
            return [pages, .count(cause)] + WriteRules.everyKey(of: item, in: table, schemas: schemas)
        }
    }
}

/// UpdateItem: when the caller asked NONE (and the proxy may rewrite the request) or ALL_NEW, the proxy asks
/// for ALL_NEW, which costs no extra read capacity, and stores what the server answered; any other ReturnValues
/// evicts the key.
struct UpdateItemPlan: WritePlan {
    let request: KeyedWriteRequest
    let key: ItemKey
    /// Whether the answer will carry the whole new item, to be stored.
    let refreshes: Bool
    /// Whether the request must be sent with `ReturnValues: ALL_NEW` in place of the caller's NONE (and the
    /// answer's attributes removed again).
    let asksForAllNew: Bool

    init(_ request: KeyedWriteRequest, mayRewrite: Bool) {
        self.request = request
        key = ItemKey(table: request.tableName, key: request.key.canonical)
        let returnValues = request.returnValues ?? "NONE"
        asksForAllNew = returnValues == "NONE" && mayRewrite
        refreshes = returnValues == "ALL_NEW" || asksForAllNew
    }

    var tables: [String] { [request.tableName] }
    var begins: [ItemKey] { refreshes ? [key] : [] }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        let table = request.tableName
        let pages = WriteRules.stalePages(table, keyValues: request.key.attributes.entries.map(\.value))
        guard case .applied(let body) = outcome else {
            return [pages] + WriteRules.failedWrite(outcome, keys: [key], table: table)
        }
        let confirm = CacheEffect.confirmSchema(table: table, attributes: request.key.attributes.entries.map(\.name))
        guard refreshes, let parsed = try? UpdateItemResponse(parsing: body), let range = parsed.attributesRange,
            let json = body.getSlice(at: body.readerIndex + range.lowerBound, length: range.count)
        else {
            return [pages, confirm, .evict(key)]
        }
        return [pages, confirm, .storeItemJSON(key, json)]
    }
}

/// DeleteItem: on success the entry records that the item does not exist.
struct DeleteItemPlan: WritePlan {
    let request: KeyedWriteRequest
    let key: ItemKey

    init(_ request: KeyedWriteRequest) {
        self.request = request
        key = ItemKey(table: request.tableName, key: request.key.canonical)
    }

    var tables: [String] { [request.tableName] }
    var begins: [ItemKey] { [key] }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        let table = request.tableName
        let pages = WriteRules.stalePages(table, keyValues: request.key.attributes.entries.map(\.value))
        guard case .applied = outcome else {
            return [pages] + WriteRules.failedWrite(outcome, keys: [key], table: table)
        }
        return [
            pages, .confirmSchema(table: table, attributes: request.key.attributes.entries.map(\.name)),
            .storeAbsent(key),
        ]
    }
}

/// BatchWriteItem: processed puts and deletes as single writes; what comes back in `UnprocessedItems` was not
/// written, and its entries stay as they are.
struct BatchWriteItemPlan: WritePlan {
    let request: BatchWriteItemRequest
    /// Each put's key under the schema confirmed when the write began, per table.
    let begunPuts: [[ItemKey?]]

    init(_ request: BatchWriteItemRequest, schemas: SchemaSnapshot) {
        self.request = request
        begunPuts = request.tables.map { table in
            table.puts.map { schemas.confirmedKey(of: $0, in: table.tableName) }
        }
    }

    var tables: [String] { request.tables.map(\.tableName) }

    var begins: [ItemKey] {
        zip(request.tables, begunPuts).flatMap { table, puts in
            table.deletes.map { ItemKey(table: table.tableName, key: $0.canonical) } + puts.compactMap { $0 }
        }
    }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        var effects: [CacheEffect] = request.tables.map { table in
            var values: [AttributeValue]? = table.deletes.flatMap { $0.attributes.entries.map(\.value) }
            for item in table.puts {
                values = schemas.keyValues(ofItem: item, in: table.tableName).flatMap { item in
                    values.map { $0 + item }
                }
            }
            return WriteRules.stalePages(table.tableName, keyValues: values)
        }
        let deletes = request.tables.flatMap { table in
            table.deletes.map { ItemKey(table: table.tableName, key: $0.canonical) }
        }
        guard case .applied(let body) = outcome, let parsed = try? BatchWriteItemResponse(parsing: body) else {
            // An acknowledgement the proxy cannot read says nothing of what was processed.
            let failure: WriteOutcome = if case .applied = outcome { .unknown } else { outcome }
            effects += WriteRules.failedWrite(failure, keys: deletes, table: nil)
            if failure != .notApplied {
                for table in request.tables {
                    for item in table.puts {
                        effects += WriteRules.everyKey(of: item, in: table.tableName, schemas: schemas)
                    }
                }
            }
            if failure == .tableNotFound {
                effects += request.tables.map { .forgetTable($0.tableName, .notFound) }
            }
            return effects
        }
        var unprocessed = Set<ItemKey>()
        for table in parsed.unprocessed {
            for key in table.deletes { unprocessed.insert(ItemKey(table: table.tableName, key: key.canonical)) }
            for item in table.puts {
                if let key = schemas.confirmedKey(of: item, in: table.tableName) { unprocessed.insert(key) }
            }
        }
        for key in deletes where !unprocessed.contains(key) {
            effects.append(.storeAbsent(key))
        }
        for (table, begun) in zip(request.tables, begunPuts) {
            for (item, key) in zip(table.puts, begun) where key.map({ !unprocessed.contains($0) }) ?? true {
                effects += WriteRules.acknowledgedPut(item, table: table.tableName, begun: key, schemas: schemas)
            }
        }
        return effects
    }
}

/// TransactWriteItems: success refreshes puts and deletes and evicts updated keys; any failure evicts every key
/// the transaction named.
struct TransactWriteItemsPlan: WritePlan {
    let request: TransactWriteItemsRequest
    /// Per item: the key its write began under (puts under the schema confirmed then, deletes), else nil.
    let begun: [ItemKey?]

    init(_ request: TransactWriteItemsRequest, schemas: SchemaSnapshot) {
        self.request = request
        begun = request.items.map { item in
            switch item.action {
            case .put(let attributes): schemas.confirmedKey(of: attributes, in: item.tableName)
            case .delete(let key): ItemKey(table: item.tableName, key: key.canonical)
            case .update, .conditionCheck: nil
            }
        }
    }

    var tables: [String] { request.items.map(\.tableName) }
    var begins: [ItemKey] { begun.compactMap { $0 } }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        var effects: [CacheEffect] = request.items.map { item in
            switch item.action {
            case .put(let attributes):
                WriteRules.stalePages(
                    item.tableName, keyValues: schemas.keyValues(ofItem: attributes, in: item.tableName))
            case .update(let key), .delete(let key), .conditionCheck(let key):
                WriteRules.stalePages(item.tableName, keyValues: key.attributes.entries.map(\.value))
            }
        }
        let applied = if case .applied = outcome { true } else { false }
        for (item, started) in zip(request.items, begun) {
            switch item.action {
            case .put(let attributes):
                effects +=
                    applied
                    ? WriteRules.acknowledgedPut(attributes, table: item.tableName, begun: started, schemas: schemas)
                    : WriteRules.everyKey(of: attributes, in: item.tableName, schemas: schemas)
            case .delete(let key):
                let itemKey = ItemKey(table: item.tableName, key: key.canonical)
                effects.append(applied ? .storeAbsent(itemKey) : .evict(itemKey))
            case .update(let key):
                effects.append(.evict(ItemKey(table: item.tableName, key: key.canonical)))
            case .conditionCheck(let key):
                if !applied { effects.append(.evict(ItemKey(table: item.tableName, key: key.canonical))) }
            }
        }
        if outcome == .tableNotFound {
            effects += request.items.map { .forgetTable($0.tableName, .notFound) }
        }
        return effects
    }
}

/// A write the proxy could not read (DynamoDB will most likely refuse it too). Should the storage server accept
/// it after all, the proxy cannot know what changed: it forgets the table, or every table when it cannot tell.
struct UnreadWritePlan: WritePlan {
    let table: String?

    var tables: [String] { [] }
    var begins: [ItemKey] { [] }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        guard outcome != .notApplied else { return [] }
        return [table.map { .forgetTable($0, .unknownOutcome) } ?? .forgetAllTables(.unknownOutcome)]
    }
}

/// PartiQL statements that may write: whatever the answer, every item of the tables they name is dropped and
/// their pages made stale, or everything's when a table cannot be told.
struct PartiQLWritePlan: WritePlan {
    /// Nil when some statement's table cannot be told.
    let writtenTables: [String]?

    var tables: [String] { [] }
    var begins: [ItemKey] { [] }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        guard let writtenTables else { return [.count(.partiql), .dropAllItems, .staleAllPages] }
        return [.count(.partiql)]
            + writtenTables.flatMap { [CacheEffect.dropItems(table: $0), .stalePages(table: $0, partitions: nil)] }
    }
}

/// CreateTable, DeleteTable, UpdateTable, restores and imports: a re-created table is a different table, so
/// whatever the answer the table is forgotten (every table, when the request names none the proxy can read);
/// a successful answer's description then proves its key schema.
struct TableChangePlan: WritePlan {
    let table: String?

    var tables: [String] { [] }
    var begins: [ItemKey] { [] }

    func effects(of outcome: WriteOutcome, schemas: SchemaSnapshot) -> [CacheEffect] {
        let forget: CacheEffect = table.map { .forgetTable($0, .tableOperation) } ?? .forgetAllTables(.tableOperation)
        guard case .applied(let body) = outcome else { return [forget] }
        return [forget] + TableDescriptionPlan.schemaEffects(of: body)
    }
}

/// DescribeTable: its answer proves the table's key schema; a missing table is forgotten.
enum TableDescriptionPlan {
    static func effects(of outcome: WriteOutcome, table: String?) -> [CacheEffect] {
        switch outcome {
        case .applied(let body): schemaEffects(of: body)
        case .tableNotFound: table.map { [.forgetTable($0, .notFound)] } ?? []
        default: []
        }
    }

    static func schemaEffects(of body: ByteBuffer) -> [CacheEffect] {
        guard let description = try? TableDescriptionKeySchema(parsing: body), let table = description.tableName,
            !description.keyAttributes.isEmpty
        else { return [] }
        return [.confirmSchema(table: table, attributes: description.keyAttributes)]
    }
}
