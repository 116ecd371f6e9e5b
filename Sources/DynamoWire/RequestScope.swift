/// What a request may touch, for the access rules of authenticated clients: the tables it names and whether it
/// only reads, writes items, or administers tables and the account. Lenient by design: a body the scope cannot be
/// read from gives `.unknown` tables, which a client limited to some tables is refused; validating the request
/// stays the storage server's job.
package struct RequestScope: Equatable, Sendable {
    /// What kind of access an operation needs.
    package enum Access: Equatable, Sendable, Comparable {
        /// Changes nothing.
        case read
        /// Writes items: PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, PartiQL writes.
        case writeItems
        /// Everything else: tables, indexes, backups, exports and imports, tags, resource policies, settings.
        case administer
    }

    package enum Tables: Equatable, Sendable {
        /// The tables named (plain names; ARNs reduced to the table's name).
        case named([String])
        /// An operation about the account rather than one table (ListTables, DescribeLimits, ...).
        case account
        /// The tables could not be told.
        case unknown
    }

    /// The operation's name, as in `dynamodb:<name>`.
    package var operation: String
    package var tables: Tables
    package var access: Access
    /// A data-plane table was named by its ARN, which may be another account's table of the same name.
    package var namesTableByARN = false

    package var isRead: Bool { access == .read }

    package init(operation: String, tables: Tables, access: Access) {
        self.operation = operation
        self.tables = tables
        self.access = access
    }

    /// Item writes of the data plane; every other operation that is not a read administers.
    static let itemWrites: Set<String> = [
        "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement",
        "BatchExecuteStatement", "ExecuteTransaction",
    ]

    /// The scope of a request to `X-Amz-Target` `target` with body `object` (nil when it is not a JSON object).
    package init(target: String?, object: JSONObject?) {
        let name: Substring
        let streams: Bool
        if let target, target.hasPrefix("DynamoDB_20120810.") {
            name = target.dropFirst("DynamoDB_20120810.".count)
            streams = false
        } else if let target, target.hasPrefix("DynamoDBStreams_20120810.") {
            name = target.dropFirst("DynamoDBStreams_20120810.".count)
            streams = true
        } else {
            // Not DynamoDB: nothing can be said of it.
            self.init(operation: target ?? "(no X-Amz-Target)", tables: .unknown, access: .administer)
            return
        }
        let operation = String(name)
        guard let object else {
            self.init(operation: operation, tables: .unknown, access: .administer)
            return
        }
        var tables: Tables
        var isRead: Bool
        if streams {
            isRead = true
            switch name {
            case "DescribeStream", "GetShardIterator":
                tables = Self.fromARN(object, "StreamArn")
            case "ListStreams":
                tables = Self.optionalTable(object, "TableName")
            case "GetRecords":
                // DynamoDB's shard iterators begin with the stream's ARN and a `|`; anything else cannot be told.
                tables = Self.iteratorTable(object)
            default:
                tables = .unknown
                isRead = false
            }
            self.init(operation: operation, tables: tables, access: isRead ? .read : .administer)
            return
        }
        isRead = Self.readOperations.contains(operation)
        switch name {
        case "BatchGetItem", "BatchWriteItem":
            tables = Self.requestItemTables(object)
        case "TransactGetItems", "TransactWriteItems":
            tables = Self.transactTables(object)
        case "ExecuteStatement":
            (tables, isRead) = Self.statements(object, list: nil)
        case "BatchExecuteStatement":
            (tables, isRead) = Self.statements(object, list: "Statements")
        case "ExecuteTransaction":
            (tables, isRead) = Self.statements(object, list: "TransactStatements")
        case "TagResource", "UntagResource", "ListTagsOfResource", "GetResourcePolicy", "PutResourcePolicy",
            "DeleteResourcePolicy":
            tables = Self.fromARN(object, "ResourceArn")
        case "ExportTableToPointInTime":
            tables = Self.fromARN(object, "TableArn")
        case "DescribeBackup", "DeleteBackup":
            tables = Self.fromARN(object, "BackupArn")
        case "DescribeExport":
            tables = Self.fromARN(object, "ExportArn")
        case "DescribeImport":
            tables = Self.fromARN(object, "ImportArn")
        case "ListExports", "ListImports":
            tables = Self.optionalARN(object, "TableArn")
        case "RestoreTableFromBackup":
            tables = Self.union(Self.required(object, "TargetTableName"), Self.fromARN(object, "BackupArn"))
        case "RestoreTableToPointInTime":
            let source =
                (try? object.string(named: "SourceTableName")) != nil
                ? Self.required(object, "SourceTableName") : Self.fromARN(object, "SourceTableArn")
            tables = Self.union(Self.required(object, "TargetTableName"), source)
        case "ImportTable":
            tables = Self.importTable(object)
        case "CreateGlobalTable", "UpdateGlobalTable", "DescribeGlobalTable", "DescribeGlobalTableSettings",
            "UpdateGlobalTableSettings":
            tables = Self.required(object, "GlobalTableName")
        case "ListTables", "DescribeLimits", "DescribeEndpoints", "ListGlobalTables":
            tables = .account
        case "ListBackups", "ListContributorInsights":
            tables = Self.optionalTable(object, "TableName")
        default:
            // Every other operation names its table in TableName.
            tables = Self.required(object, "TableName")
        }
        self.init(
            operation: operation, tables: tables,
            access: isRead ? .read : Self.itemWrites.contains(operation) ? .writeItems : .administer)
        namesTableByARN = Self.namesTableByARN(object)
    }

    /// Whether `TableName`, a `RequestItems` key or a `TransactItems` table is an ARN.
    private static func namesTableByARN(_ object: JSONObject) -> Bool {
        if let name = try? object.string(named: "TableName"), name.hasPrefix("arn:") { return true }
        return
            (try? object.withJSON { json throws(WireError) -> Bool in
                if let items = try json.member("RequestItems", of: object.members), items.kind == .object {
                    for member in json.members(of: items)
                    where json.decodeString(contents: member.name).hasPrefix("arn:") {
                        return true
                    }
                }
                if let items = try json.member("TransactItems", of: object.members), items.kind == .array {
                    for element in json.elements(of: items) where element.kind == .object {
                        for action in json.members(of: element) where action.value.kind == .object {
                            if let name = try json.member("TableName", of: json.members(of: action.value)),
                                name.kind == .string, json.string(name).hasPrefix("arn:")
                            {
                                return true
                            }
                        }
                    }
                }
                return false
            }) ?? false
    }

    /// The table of a shard iterator that begins `arn:…:table/NAME/stream/…|`.
    private static func iteratorTable(_ object: JSONObject) -> Tables {
        guard let iterator = try? object.string(named: "ShardIterator"), iterator.hasPrefix("arn:"),
            let bar = iterator.firstIndex(of: "|")
        else { return .unknown }
        let parts = iterator[..<bar].split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6 else { return .unknown }
        let resource = parts[5].split(separator: "/", omittingEmptySubsequences: false)
        guard resource.count >= 4, resource[0] == "table", !resource[1].isEmpty, resource[2] == "stream" else {
            return .unknown
        }
        return .named([String(resource[1])])
    }

    /// Operations that change nothing (PartiQL is decided by its statements).
    static let readOperations: Set<String> = [
        "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables",
        "DescribeTimeToLive", "DescribeContinuousBackups", "ListBackups", "DescribeBackup",
        "DescribeContributorInsights", "ListContributorInsights", "DescribeKinesisStreamingDestination",
        "DescribeTableReplicaAutoScaling", "DescribeLimits", "DescribeEndpoints", "ListGlobalTables",
        "DescribeGlobalTable", "DescribeGlobalTableSettings", "ListExports", "DescribeExport", "ListImports",
        "DescribeImport", "ListTagsOfResource", "GetResourcePolicy",
    ]

    private static func required(_ object: JSONObject, _ member: StaticString) -> Tables {
        guard let name = try? object.string(named: member), !name.isEmpty else { return .unknown }
        return .named([TableName.normalized(name)])
    }

    private static func optionalTable(_ object: JSONObject, _ member: StaticString) -> Tables {
        guard let value = try? object.member(member) else { return .account }
        guard value.kind == .string else { return .unknown }
        return required(object, member)
    }

    private static func optionalARN(_ object: JSONObject, _ member: StaticString) -> Tables {
        guard (try? object.member(member)) != nil else { return .account }
        return fromARN(object, member)
    }

    /// The table of an ARN `arn:…:table/NAME[/stream|backup|export|import/…]`.
    private static func fromARN(_ object: JSONObject, _ member: StaticString) -> Tables {
        guard let arn = try? object.string(named: member) else { return .unknown }
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn" else { return .unknown }
        let resource = parts[5].split(separator: "/", omittingEmptySubsequences: false)
        guard resource.count >= 2, resource[0] == "table", !resource[1].isEmpty else { return .unknown }
        return .named([String(resource[1])])
    }

    private static func union(_ a: Tables, _ b: Tables) -> Tables {
        guard case .named(let x) = a, case .named(let y) = b else { return .unknown }
        return .named(x + y)
    }

    private static func requestItemTables(_ object: JSONObject) -> Tables {
        (try? object.withJSON { json throws(WireError) -> Tables in
            guard let items = try json.member("RequestItems", of: object.members), items.kind == .object else {
                return .unknown
            }
            var names: [String] = []
            for member in json.members(of: items) {
                names.append(TableName.normalized(json.decodeString(contents: member.name)))
            }
            return names.isEmpty ? .unknown : .named(names)
        }) ?? .unknown
    }

    private static func transactTables(_ object: JSONObject) -> Tables {
        (try? object.withJSON { json throws(WireError) -> Tables in
            guard let items = try json.member("TransactItems", of: object.members), items.kind == .array else {
                return .unknown
            }
            var names: [String] = []
            for element in json.elements(of: items) {
                guard element.kind == .object else { return .unknown }
                for action in json.members(of: element) where action.value.kind == .object {
                    guard let name = try json.member("TableName", of: json.members(of: action.value)),
                        name.kind == .string
                    else { return .unknown }
                    names.append(TableName.normalized(json.string(name)))
                }
            }
            return names.isEmpty ? .unknown : .named(names)
        }) ?? .unknown
    }

    private static func importTable(_ object: JSONObject) -> Tables {
        (try? object.withJSON { json throws(WireError) -> Tables in
            guard let parameters = try json.member("TableCreationParameters", of: object.members),
                parameters.kind == .object,
                let name = try json.member("TableName", of: json.members(of: parameters)), name.kind == .string
            else { return .unknown }
            return .named([TableName.normalized(json.string(name))])
        }) ?? .unknown
    }

    /// The tables of PartiQL statements, and whether all of them only read. `list` names the array of
    /// `{"Statement": …}` objects; nil for ExecuteStatement's own `Statement`.
    private static func statements(_ object: JSONObject, list: StaticString?) -> (Tables, Bool) {
        let texts: [String]? =
            try? object.withJSON { json throws(WireError) -> [String]? in
                guard let list else {
                    guard let statement = try json.member("Statement", of: object.members), statement.kind == .string
                    else { return nil }
                    return [json.string(statement)]
                }
                guard let array = try json.member(list, of: object.members), array.kind == .array else { return nil }
                var texts: [String] = []
                for element in json.elements(of: array) {
                    guard element.kind == .object,
                        let statement = try json.member("Statement", of: json.members(of: element)),
                        statement.kind == .string
                    else { return nil }
                    texts.append(json.string(statement))
                }
                return texts
            } ?? nil
        guard let texts, !texts.isEmpty else { return (.unknown, false) }
        var names: [String] = []
        var isRead = true
        for text in texts {
            let statement = PartiQLStatement(text)
            // A statement whose tables cannot be told may be anything: a write, as far as access goes.
            guard let tables = statement.tableNames else { return (.unknown, false) }
            isRead = isRead && statement.isRead
            names += tables
        }
        return (.named(names), isRead)
    }
}
