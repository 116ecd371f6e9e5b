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
        return write(call, PartiQLWritePlan(writtenTables: tables.map { $0.sorted() }))
    }

    /// CreateTable, DeleteTable, UpdateTable, restores and imports: a re-created table is a different table, so
    /// every entry of that name goes, and its key schema is forgotten (or learnt from the answer).
    func tableChange(_ call: Call, _ operation: DynamoOperation) -> ProxyOutcome {
        let table = (try? TableDefinitionRequest(parsing: call.request.body, operation: operation))?.tableName
        return write(call, TableChangePlan(table: table), status: .bypass)
    }

    /// DescribeTable passes through; its answer confirms the table's key schema.
    func describeTable(_ call: Call) -> ProxyOutcome {
        let table = (try? call.object.tableName()).flatMap { $0 }
        return .deferred(
            send(call).map { answer in
                self.apply(TableDescriptionPlan.effects(of: WriteOutcome(answer), table: table))
                return self.response(for: answer).marked(.bypass)
            }
        )
    }
}
