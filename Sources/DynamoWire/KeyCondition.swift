/// What a Query's `KeyConditionExpression` pins down: the value placeholders compared with `=` to a key
/// attribute. DynamoDB requires the partition key to be one of them, so a page of a base-table Query depends
/// only on the partitions those values name — which lets the query cache keep pages of other partitions when
/// one partition is written.
package enum KeyCondition {
    /// The `:placeholders` of the expression's `name = :value` (or `:value = name`) terms, or nil when the
    /// expression holds anything this reader does not follow with certainty (then the caller assumes the page
    /// may depend on any partition).
    package static func equalityPlaceholders(in expression: String) -> [String]? {
        guard let tokens = tokenize(expression) else { return nil }
        var placeholders: [String] = []
        for (index, token) in tokens.enumerated() where token == .equals {
            guard index > 0, index + 1 < tokens.count else { return nil }
            switch (tokens[index - 1], tokens[index + 1]) {
            case (.name, .value(let value)), (.value(let value), .name):
                // `name = :v` must not be the tail of a function call or the start of one (`f(x) = :v`).
                if index + 2 < tokens.count, tokens[index + 2] == .open { return nil }
                if index >= 2, tokens[index - 2] == .close { return nil }
                placeholders.append(value)
            default:
                return nil
            }
        }
        return placeholders.isEmpty ? nil : placeholders
    }

    private enum Token: Equatable {
        case name
        case value(String)
        case equals
        case otherOperator
        case open
        case close
        case comma
        case keyword
    }

    /// Splits into names (`a`, `#a`, `a.b`), `:values`, operators and punctuation; nil on anything unexpected.
    private static func tokenize(_ expression: String) -> [Token]? {
        var tokens: [Token] = []
        let scalars = Array(expression.unicodeScalars)
        var i = 0
        func isWord(_ c: Unicode.Scalar) -> Bool {
            c.properties.isAlphabetic || c.properties.numericType != nil || c == "_" || c == "#" || c == ":" || c == "."
                || c == "-" || c == "[" || c == "]"
        }
        while i < scalars.count {
            let c = scalars[i]
            switch c {
            case " ", "\t", "\n", "\r":
                i += 1
            case "(":
                tokens.append(.open)
                i += 1
            case ")":
                tokens.append(.close)
                i += 1
            case ",":
                tokens.append(.comma)
                i += 1
            case "=":
                tokens.append(.equals)
                i += 1
            case "<", ">":
                // <, <=, >, >=, <>: comparisons that never pin a partition.
                i += 1
                if i < scalars.count, scalars[i] == "=" || scalars[i] == ">" { i += 1 }
                tokens.append(.otherOperator)
            default:
                guard isWord(c) else { return nil }
                var word = ""
                while i < scalars.count, isWord(scalars[i]) {
                    word.unicodeScalars.append(scalars[i])
                    i += 1
                }
                switch word.uppercased() {
                case "AND", "BETWEEN":
                    tokens.append(.keyword)
                case "OR", "NOT", "IN":
                    return nil  // not valid in a key condition; leave it to the server
                default:
                    if word.hasPrefix(":") {
                        tokens.append(.value(word))
                    } else {
                        tokens.append(.name)
                    }
                }
            }
        }
        return tokens
    }
}

/// A stable 64-bit hash of a key attribute's value, equal for values DynamoDB treats as equal ("1" and "1.0"),
/// whatever the attribute is called; nil for types that cannot be key values.
package enum KeyValueHash {
    package static func of(_ value: AttributeValue) -> UInt64? {
        switch value {
        case .s, .n, .b:
            return try? CanonicalKey(AttributeMap(dictionaryLiteral: ("", value))).hashValue64
        default:
            return nil
        }
    }
}
