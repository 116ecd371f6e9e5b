import NIOCore

/// What the proxy needs to know about a PartiQL statement: whether it only reads, and which table it touches.
///
/// Not a PartiQL parser: it reads the leading keywords and the table reference after them (SELECT ... FROM t,
/// EXISTS(SELECT ... FROM t), INSERT INTO t, UPDATE t, DELETE FROM t), skipping whitespace, `--` and `/* */`
/// comments, string literals and quoted identifiers. Whatever does not have that shape has no known tables, so
/// the caller must assume the statement may touch any table.
package struct PartiQLStatement: Hashable, Sendable {
    /// SELECT or EXISTS: the statement changes nothing.
    package var isRead: Bool
    /// The table the statement reads or writes (normalised, `TableName.normalized`); nil when it cannot be told.
    package var tableNames: [String]?

    package init(_ statement: String) {
        var tokens = PartiQLTokenizer(Array(statement.utf8))
        let first = tokens.next()
        switch first?.keyword {
        case "SELECT":
            isRead = true
            tableNames = Self.table(after: ["FROM"], in: &tokens, skipping: true)
        case "EXISTS":
            // EXISTS(SELECT ... FROM t ...): the SELECT is the statement's own.
            isRead = true
            let open = tokens.next()
            let select = tokens.next()
            tableNames =
                open == .punctuation(UInt8(ascii: "(")) && select?.keyword == "SELECT"
                ? Self.table(after: ["FROM"], in: &tokens, skipping: true) : nil
        case "INSERT":
            isRead = false
            tableNames = Self.table(after: ["INTO"], in: &tokens, skipping: false)
        case "UPDATE":
            isRead = false
            tableNames = Self.table(after: [], in: &tokens, skipping: false)
        case "DELETE":
            isRead = false
            tableNames = Self.table(after: ["FROM"], in: &tokens, skipping: false)
        default:
            isRead = false
            tableNames = nil
        }
    }

    /// The table named right after the keywords `keywords` (found at the next token, or at their first occurrence
    /// when `skipping`), with an optional `.index` after it; nil unless that reference is followed by the end or
    /// by a word.
    private static func table(
        after keywords: [String],
        in tokens: inout PartiQLTokenizer,
        skipping: Bool
    ) -> [String]? {
        for keyword in keywords {
            while true {
                guard let token = tokens.next() else { return nil }
                if token.keyword == keyword { break }
                // A nested query before the FROM could name another table.
                guard skipping, !Self.refersToATable(token) else { return nil }
            }
        }
        guard let table = tokens.next()?.identifier else { return nil }
        var next = tokens.next()
        if next == .punctuation(UInt8(ascii: ".")) {
            guard tokens.next()?.identifier != nil else { return nil }
            next = tokens.next()
        }
        switch next {
        case nil, .word: break
        default: return nil
        }
        // Nothing after the reference may name another table (a subquery in the WHERE clause).
        if let next, Self.refersToATable(next) { return nil }
        while let token = tokens.next() {
            if Self.refersToATable(token) { return nil }
        }
        return [TableName.normalized(table)]
    }

    /// Keywords that introduce a table reference.
    private static func refersToATable(_ token: PartiQLToken) -> Bool {
        switch token.keyword {
        case "SELECT", "FROM", "INTO", "EXISTS", "UPDATE": true
        default: false
        }
    }
}

/// A token of a PartiQL statement.
enum PartiQLToken: Equatable {
    /// An unquoted identifier or keyword.
    case word(String)
    /// A double-quoted identifier, unescaped.
    case quoted(String)
    /// A single-quoted string literal.
    case literal
    /// Any other byte.
    case punctuation(UInt8)

    /// The upper-cased word, for keyword comparisons.
    var keyword: String? {
        if case .word(let word) = self { return word.uppercased() }
        return nil
    }

    /// The identifier, quoted or not.
    var identifier: String? {
        switch self {
        case .word(let word), .quoted(let word): word
        default: nil
        }
    }
}

/// Splits a statement into tokens, dropping whitespace and comments.
struct PartiQLTokenizer {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The next token; nil at the end, and at an unterminated comment, literal or quoted identifier.
    mutating func next() -> PartiQLToken? {
        skipBlanks()
        guard index < bytes.count else { return nil }
        let start = index
        switch bytes[index] {
        case UInt8(ascii: "\""):
            guard let contents = quoted(UInt8(ascii: "\"")) else { return nil }
            return .quoted(contents)
        case UInt8(ascii: "'"):
            guard quoted(UInt8(ascii: "'")) != nil else { return nil }
            return .literal
        case let byte where Self.isWordByte(byte):
            while index < bytes.count, Self.isWordByte(bytes[index]) { index += 1 }
            return .word(String(decoding: bytes[start..<index], as: UTF8.self))
        case let byte:
            index += 1
            return .punctuation(byte)
        }
    }

    /// Reads a token enclosed in `quote`, where a doubled quote stands for one; its unescaped contents.
    private mutating func quoted(_ quote: UInt8) -> String? {
        var contents: [UInt8] = []
        index += 1
        while index < bytes.count {
            if bytes[index] == quote {
                guard index + 1 < bytes.count, bytes[index + 1] == quote else {
                    index += 1
                    return String(decoding: contents, as: UTF8.self)
                }
                index += 1
            }
            contents.append(bytes[index])
            index += 1
        }
        return nil
    }

    /// Skips whitespace, `--` line comments and `/* */` block comments; an unterminated block comment runs to the end.
    private mutating func skipBlanks() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                index += 1
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                index += 2
                while index < bytes.count
                    && !(bytes[index] == UInt8(ascii: "*") && index + 1 < bytes.count
                        && bytes[index + 1] == UInt8(ascii: "/"))
                {
                    index += 1
                }
                index = min(index + 2, bytes.count)
            default:
                return
            }
        }
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "$"):
            true
        default:
            false
        }
    }
}

/// The statements of a PartiQL request.
package struct PartiQLRequest: Hashable, Sendable {
    /// In body order.
    package var statements: [String]

    /// Validates `body` and reads the statements of `operation`: `Statement` for ExecuteStatement,
    /// `Statements[].Statement` for BatchExecuteStatement, `TransactStatements[].Statement` for
    /// ExecuteTransaction; none for other operations.
    package init(parsing body: ByteBuffer, operation: DynamoOperation) throws(WireError) {
        let object = try JSONObject(parsing: body)
        statements = try object.withJSON { json throws(WireError) in
            let members = object.members
            switch operation {
            case .executeStatement:
                return [
                    try json.required(
                        json.string(json.member("Statement", of: members), field: "Statement"), field: "Statement")
                ]
            case .batchExecuteStatement:
                return try json.statementList(json.member("Statements", of: members), field: "Statements")
            case .executeTransaction:
                return try json.statementList(
                    json.member("TransactStatements", of: members), field: "TransactStatements")
            default:
                return []
            }
        }
    }
}

extension ValidatedJSON {
    /// The `Statement` of each element of the required, non-empty array `value`.
    fileprivate func statementList(_ value: JSONValue?, field: String) throws(WireError) -> [String] {
        let list = try required(value, field: field)
        try expect(list, .array, field: field)
        var statements: [String] = []
        for element in elements(of: list) {
            try expect(element, .object, field: field)
            let statement = try string(member("Statement", of: members(of: element)), field: "Statement")
            statements.append(try required(statement, field: "Statement"))
        }
        guard !statements.isEmpty else { throw .invalidField(field: field, reason: .empty) }
        return statements
    }
}
