/// A DynamoDB operation the proxy treats differently from the rest, taken from `X-Amz-Target`.
///
/// Every operation that is neither read from the cache, nor a write that invalidates it, nor a change of a table
/// definition is `.other` and is forwarded untouched.
package enum DynamoOperation: Hashable, Sendable {
    case getItem
    case batchGetItem
    case putItem
    case updateItem
    case deleteItem
    case batchWriteItem
    case query
    case scan
    case transactGetItems
    case transactWriteItems
    case executeStatement
    case batchExecuteStatement
    case executeTransaction
    case createTable
    case deleteTable
    case updateTable
    case describeTable
    case restoreTableFromBackup
    case restoreTableToPointInTime
    case importTable
    /// Any other DynamoDB operation (ListTables, tagging, TTL, backups, ...).
    case other

    /// The operation named by the part of `X-Amz-Target` after `DynamoDB_20120810.`.
    package init(name: Substring) {
        // Exact, case-sensitive names, as DynamoDB itself matches them.
        switch name {
        case "GetItem": self = .getItem
        case "BatchGetItem": self = .batchGetItem
        case "PutItem": self = .putItem
        case "UpdateItem": self = .updateItem
        case "DeleteItem": self = .deleteItem
        case "BatchWriteItem": self = .batchWriteItem
        case "Query": self = .query
        case "Scan": self = .scan
        case "TransactGetItems": self = .transactGetItems
        case "TransactWriteItems": self = .transactWriteItems
        case "ExecuteStatement": self = .executeStatement
        case "BatchExecuteStatement": self = .batchExecuteStatement
        case "ExecuteTransaction": self = .executeTransaction
        case "CreateTable": self = .createTable
        case "DeleteTable": self = .deleteTable
        case "UpdateTable": self = .updateTable
        case "DescribeTable": self = .describeTable
        case "RestoreTableFromBackup": self = .restoreTableFromBackup
        case "RestoreTableToPointInTime": self = .restoreTableToPointInTime
        case "ImportTable": self = .importTable
        default: self = .other
        }
    }

    /// A read whose answer the proxy may serve from its cache.
    package var isCacheableRead: Bool {
        switch self {
        case .getItem, .batchGetItem, .query, .scan: true
        default: false
        }
    }

    /// A read that changes nothing, so sending it twice is harmless (other operations, `.other` included, are
    /// not known to be).
    package var hasNoSideEffects: Bool {
        switch self {
        case .getItem, .batchGetItem, .query, .scan, .transactGetItems, .describeTable: true
        default: false
        }
    }

    /// An operation that may change items. PartiQL statements count as writes because telling a SELECT from an
    /// UPDATE would need a PartiQL parser.
    package var isWrite: Bool {
        switch self {
        case .putItem, .updateItem, .deleteItem, .batchWriteItem, .transactWriteItems, .executeStatement,
            .batchExecuteStatement, .executeTransaction:
            true
        default: false
        }
    }

    /// An operation that creates, deletes or replaces a table, or changes its key schema or indexes: cached
    /// key schemas and items of that table are no longer trustworthy.
    package var changesTableDefinition: Bool {
        switch self {
        case .createTable, .deleteTable, .updateTable, .restoreTableFromBackup, .restoreTableToPointInTime,
            .importTable:
            true
        default: false
        }
    }
}

/// The API a request is addressed to, from its `X-Amz-Target` header.
package enum APITarget: Hashable, Sendable {
    /// `DynamoDB_20120810.<Operation>`.
    case dynamoDB(DynamoOperation)
    /// `DynamoDBStreams_20120810.<Operation>`.
    case dynamoDBStreams
    /// No header, or one naming another service: passed through untouched.
    case other

    /// Classifies a raw `X-Amz-Target` header value.
    package init(xAmzTarget: String?) {
        guard let target = xAmzTarget else {
            self = .other
            return
        }
        // Byte-wise prefix tests and a Substring that shares the header's storage: classifying allocates nothing.
        let bytes = target.utf8
        if bytes.starts(with: "DynamoDB_20120810.".utf8) {
            self = .dynamoDB(DynamoOperation(name: Substring(bytes.dropFirst(18))))
        } else if bytes.starts(with: "DynamoDBStreams_20120810.".utf8) {
            self = .dynamoDBStreams
        } else {
            self = .other
        }
    }
}
