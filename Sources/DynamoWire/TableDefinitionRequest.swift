import NIOCore

/// The table whose definition a table-changing operation affects.
package struct TableDefinitionRequest: Hashable, Sendable {
    /// Normalised (`TableName.normalized`); nil for an operation that names no table this way.
    package var tableName: String?

    /// Validates `body` and reads the table `operation` affects: `TableName` for CreateTable, DeleteTable and
    /// UpdateTable, `TargetTableName` for RestoreTableFromBackup and RestoreTableToPointInTime,
    /// `TableCreationParameters.TableName` for ImportTable.
    package init(parsing body: ByteBuffer, operation: DynamoOperation) throws(WireError) {
        let object = try JSONObject(parsing: body)
        tableName = try object.withJSON { json throws(WireError) in
            let members = object.members
            let name: String?
            switch operation {
            case .createTable, .deleteTable, .updateTable:
                name = try json.string(json.member("TableName", of: members), field: "TableName")
            case .restoreTableFromBackup, .restoreTableToPointInTime:
                name = try json.string(json.member("TargetTableName", of: members), field: "TargetTableName")
            case .importTable:
                guard let parameters = try json.member("TableCreationParameters", of: members) else { return nil }
                try json.expect(parameters, .object, field: "TableCreationParameters")
                name = try json.string(json.member("TableName", of: json.members(of: parameters)), field: "TableName")
            default:
                name = nil
            }
            return name.map(TableName.normalized)
        }
    }
}
