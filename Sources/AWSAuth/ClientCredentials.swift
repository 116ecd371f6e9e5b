/// A client allowed to use the proxy: one section of the `--client-credentials` file.
package struct ClientIdentity: Sendable, Equatable {
    /// The section name, which logs and access-denied messages name the client by.
    package var name: String
    package var accessKeyID: String
    package var secretAccessKey: String
    /// Tables the client may use; nil for every table.
    package var tables: [TablePattern]?
    /// Reads only (`access = read`).
    package var readOnly: Bool

    package init(
        name: String, accessKeyID: String, secretAccessKey: String, tables: [TablePattern]? = nil,
        readOnly: Bool = false
    ) {
        self.name = name
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.tables = tables
        self.readOnly = readOnly
    }

    /// True when the client may use table `name`.
    package func allows(table name: String) -> Bool {
        tables?.contains { $0.matches(name) } ?? true
    }
}

/// A table name, or a prefix ending in `*`.
package struct TablePattern: Sendable, Equatable, CustomStringConvertible {
    package var text: String

    package init(_ text: String) {
        self.text = text
    }

    package func matches(_ table: String) -> Bool {
        text.hasSuffix("*") ? table.hasPrefix(text.dropLast()) : table == text
    }

    package var description: String { text }
}

/// The clients of `--client-credentials FILE`, in the AWS shared-credentials format:
///
/// ```ini
/// [orders-service]
/// aws_access_key_id = AKIAORDERS
/// aws_secret_access_key = ...
/// tables = orders, orders-archive-*
/// access = readwrite
/// ```
///
/// `tables` (names, or prefixes ending in `*`) and `access` (`read` or `readwrite`, the default) are optional.
/// Anything else in a section is an error, so that a misspelt restriction cannot silently grant access.
package struct ClientCredentials: Sendable, Equatable {
    package private(set) var byAccessKeyID: [String: ClientIdentity]

    package init(identities: [ClientIdentity]) {
        byAccessKeyID = Dictionary(identities.map { ($0.accessKeyID, $0) }, uniquingKeysWith: { first, _ in first })
    }

    package init(parsing text: String) throws(CredentialError) {
        let file: INIFile
        do {
            file = try INIFile(parsing: text)
        } catch {
            throw CredentialError("\(error)")
        }
        var identities: [String: ClientIdentity] = [:]
        var names: Set<String> = []
        for section in file.sections {
            guard names.insert(section.name).inserted else {
                throw CredentialError("line \(section.line): a second section [\(section.name)]")
            }
            var key: String?
            var secret: String?
            var tables: [TablePattern]?
            var readOnly = false
            for entry in section.entries {
                switch entry.key {
                case "aws_access_key_id": key = entry.value
                case "aws_secret_access_key": secret = entry.value
                case "tables":
                    let patterns = entry.value.split(separator: ",").map { String($0.trimmingSpaces()) }
                        .filter { !$0.isEmpty }
                    guard !patterns.isEmpty else {
                        throw CredentialError("line \(entry.line): tables names no table")
                    }
                    tables = patterns.map(TablePattern.init)
                case "access":
                    switch entry.value.lowercased() {
                    case "read": readOnly = true
                    case "readwrite": readOnly = false
                    default:
                        throw CredentialError(
                            "line \(entry.line): access must be read or readwrite, not \(entry.value)")
                    }
                default:
                    throw CredentialError(
                        "line \(entry.line): unknown setting \(entry.key) in [\(section.name)] (known: "
                            + "aws_access_key_id, aws_secret_access_key, tables, access)")
                }
            }
            guard let key, !key.isEmpty else {
                throw CredentialError("line \(section.line): [\(section.name)] has no aws_access_key_id")
            }
            guard let secret, !secret.isEmpty else {
                throw CredentialError("line \(section.line): [\(section.name)] has no aws_secret_access_key")
            }
            guard identities[key] == nil else {
                throw CredentialError(
                    "line \(section.line): [\(section.name)] reuses the access key id of [\(identities[key]!.name)]")
            }
            identities[key] = ClientIdentity(
                name: section.name, accessKeyID: key, secretAccessKey: secret, tables: tables, readOnly: readOnly)
        }
        byAccessKeyID = identities
    }

    package var count: Int { byAccessKeyID.count }
}
