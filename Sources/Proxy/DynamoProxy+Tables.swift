import DynamoWire
import NIOCore

extension DynamoProxy {
    /// PartiQL: SELECT passes through uncached; a statement that may write drops every entry of the tables it
    /// names once the storage server has answered (whatever the answer), or every entry when a table cannot be
    /// told.
    func partiQL(_ call: Call, _ operation: DynamoOperation) -> ProxyOutcome {
        guard let request = try? PartiQLRequest(parsing: call.request.body, operation: operation) else {
            return .deferred(passThrough(call, status: .bypass))
        }
        let statements = request.statements.map(PartiQLStatement.init)
        if statements.allSatisfy(\.isRead) {
            return .deferred(passThrough(call, status: .bypass))
        }
        var tables: Set<String>? = []
        for statement in statements where !statement.isRead {
            guard let names = statement.tableNames else {
                tables = nil
                break
            }
            tables?.formUnion(names)
        }
        return .deferred(
            send(call).map { [tables] answer in
                self.statistics.invalidated(.partiql)
                if let tables {
                    for table in tables { self.items.invalidateGroup(TableGroup.of(table)) }
                    self.afterWrite(tables.map { ($0, nil) })
                } else {
                    self.items.removeAll()
                    if self.configuration.queryInvalidation == .write { self.tables.advanceAll() }
                }
                return self.response(for: answer).marked(.write)
            }
        )
    }

    /// CreateTable, DeleteTable, UpdateTable, restores and imports: a re-created table is a different table, so
    /// every entry of that name goes, and its key schema is forgotten (or learnt from the answer).
    func tableChange(_ call: Call, _ operation: DynamoOperation) -> ProxyOutcome {
        let table = (try? TableDefinitionRequest(parsing: call.request.body, operation: operation))?.tableName
        return .deferred(
            send(call).map { answer in
                self.flush(table: table, cause: .tableOperation)
                if case .response(let upstream) = answer, upstream.head.status == .ok {
                    self.learnSchema(from: upstream.body)
                }
                return self.response(for: answer).marked(.bypass)
            }
        )
    }

    /// DescribeTable passes through; its answer confirms the table's key schema.
    func describeTable(_ call: Call) -> ProxyOutcome {
        .deferred(
            send(call).map { answer in
                if case .response(let upstream) = answer, upstream.head.status == .ok {
                    self.learnSchema(from: upstream.body)
                } else if answer.errorCode == "ResourceNotFoundException", let table = try? call.object.tableName() {
                    self.flush(table: table, cause: .notFound)
                }
                return self.response(for: answer).marked(.bypass)
            }
        )
    }

    private func learnSchema(from body: ByteBuffer) {
        guard let description = try? TableDescriptionKeySchema(parsing: body), let table = description.tableName,
            !description.keyAttributes.isEmpty
        else { return }
        confirmSchema(table, attributes: description.keyAttributes)
    }
}

extension DynamoProxy {
    /// Records a proven key schema; when it differs from the one confirmed before, the table's items and pages are
    /// dropped, since writes would no longer find entries stored under the old key names.
    func confirmSchema(_ table: String, attributes: [String]) {
        if tables.confirm(table, attributes: attributes) {
            // Query pages too: a write finds the partitions it stales through the key schema.
            statistics.invalidated(.tableOperation)
            items.invalidateGroup(TableGroup.of(table))
            queries.invalidateGroup(TableGroup.of(table))
        }
    }
}
