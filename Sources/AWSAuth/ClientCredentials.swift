/// A client allowed to use the proxy: one section of the `--client-credentials` file.
package struct ClientIdentity: Sendable, Equatable, CustomStringConvertible {
    /// What a client may do with the tables it may use.
    package enum Access: String, Sendable, Equatable, Comparable {
        /// Read items, query, scan, describe.
        case read
        /// Also write items (PutItem, UpdateItem, DeleteItem, batches, transactions, PartiQL).
        case readwrite
        /// Also create, change and delete tables, and everything else the API offers (backups, exports, imports,
        /// tags, resource policies, settings).
        case admin

        private var rank: Int {
            switch self {
            case .read: 0
            case .readwrite: 1
            case .admin: 2
            }
        }

        package static func < (a: Access, b: Access) -> Bool { a.rank < b.rank }
    }

    /// The section name, which logs and access-denied messages name the client by.
    package var name: String
    package var accessKeyID: String
    package var secretAccessKey: String
    /// Tables the client may use; nil for every table.
    package var tables: [TablePattern]?
    package var access: Access

    package init(
        name: String, accessKeyID: String, secretAccessKey: String, tables: [TablePattern]? = nil,
        access: Access = .readwrite
    ) {
        self.name = name
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.tables = tables
        self.access = access
    }

    /// No secret: the section and key id only.
    package var description: String { "ClientIdentity([\(name)] \(accessKeyID))" }

    /// Whether a request of this client needs its scope checked.
    package var isLimited: Bool { tables != nil || access != .admin }

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
/// `tables` (names, or prefixes ending in `*`) and `access` (`read`, `readwrite` — the default — or `admin`) are
/// optional. Anything else in a section is an error, as is a setting given twice or indented, so that a misspelt or
/// misplaced restriction cannot silently grant access.
package struct ClientCredentials: Sendable, Equatable {
    package private(set) var byAccessKeyID: [String: ClientIdentity]

    package init(identities: [ClientIdentity]) {
        byAccessKeyID = Dictionary(identities.map { ($0.accessKeyID, $0) }, uniquingKeysWith: { first, _ in first })
    }

    package init(parsing text: String) throws(CredentialError) {
        let file: INIFile
        do {
            file = try INIFile(parsing: text, nestedSettings: false)
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
            var access = ClientIdentity.Access.readwrite
            var given: Set<String> = []
            for entry in section.entries {
                guard given.insert(entry.key).inserted else {
                    throw CredentialError("line \(entry.line): \(entry.key) given twice in [\(section.name)]")
                }
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
                    guard let level = ClientIdentity.Access(rawValue: entry.value.lowercased()) else {
                        throw CredentialError(
                            "line \(entry.line): access must be read, readwrite or admin, not \(entry.value)")
                    }
                    access = level
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
                name: section.name, accessKeyID: key, secretAccessKey: secret, tables: tables, access: access)
        }
        byAccessKeyID = identities
    }

    package var count: Int { byAccessKeyID.count }
}
