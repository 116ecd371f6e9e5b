/// A read's projection, checked and compiled so that it can be applied to full items from the cache.
///
/// Design note. The cache stores whole items; a read with a projection is answered by applying the projection to
/// the stored item, and the answer must be exactly what DynamoDB would send. Two rules follow:
///
/// - `init?` accepts only projections DynamoDB certainly accepts. Whatever it cannot vouch for (a syntax error, an
///   unknown or unused placeholder, a reserved word, overlapping or conflicting paths, a limit) gives nil, and the
///   proxy forwards the request so that DynamoDB composes the exact error. It is deliberately stricter than
///   DynamoDB where DynamoDB's rules are not documented: no whitespace inside a document path (only around commas),
///   at most 32 elements per path, list indexes of at most 9 digits, expressions of at most 4 KB.
/// - `apply(to:)` follows DynamoDB's documented semantics ("Projection expressions", "Document paths"), not
///   moto's where they differ: every path selects independently and the selections are merged, so `l[2], l[0]`
///   gives `l` with the elements 0 and 2 in index order (moto keeps only the last path into a list), and
///   `AttributesToGet` is applied (moto ignores it in GetItem).
///
/// The compiled form is a trie of the selected paths: applying it walks the item once and copies only selected
/// values, with no lookup of placeholder names or re-parsing per item.
package struct ProjectionPlan: Sendable {
    /// What a path selects below a point of the item.
    indirect enum Node: Sendable, Equatable {
        /// The whole value.
        case all
        /// Some members of a map, in the order their paths were first written.
        case map([Child])
        /// Some elements of a list, by ascending index.
        case list([Element])
    }

    /// A member of a map selected by name.
    struct Child: Sendable, Equatable {
        var name: String
        var node: Node
    }

    /// An element of a list selected by index.
    struct Element: Sendable, Equatable {
        var index: Int
        var node: Node
    }

    /// The selected top-level attributes; nil when the whole item is returned.
    let attributes: [Child]?

    /// True when `apply(to:)` returns items unchanged.
    package var isWholeItem: Bool { attributes == nil }

    /// Compiles `projection`; nil when DynamoDB would reject it or the proxy cannot be certain it would not.
    package init?(_ projection: Projection) {
        let names = projection.expressionAttributeNames
        // DynamoDB rejects an empty ExpressionAttributeNames, and names without an expression to use them.
        if let names, names.isEmpty || projection.projectionExpression == nil { return nil }
        switch (projection.projectionExpression, projection.attributesToGet) {
        case (nil, nil):
            attributes = nil
        case (let expression?, nil):
            var parser = ProjectionExpressionParser(names: names ?? [:])
            guard let paths = parser.parse(expression), parser.usedAllNames else { return nil }
            var root: [Child] = []
            for path in paths {
                guard Self.insert(path[...], into: &root) else { return nil }
            }
            attributes = root
        case (nil, let attributesToGet?):
            // Legacy names are literal top-level attribute names: no paths, no placeholders, no reserved words.
            guard !attributesToGet.isEmpty, Set(attributesToGet).count == attributesToGet.count,
                !attributesToGet.contains(where: \.isEmpty)
            else { return nil }
            attributes = attributesToGet.map { Child(name: $0, node: .all) }
        case (.some, .some):
            return nil
        }
    }

    /// The attributes of `item` that the projection selects, with DynamoDB's semantics: a path into a map keeps
    /// the map with only the selected members; a path into a list keeps the list with only the selected elements,
    /// in index order and compacted; an index past the end or a path through a value of another type selects
    /// nothing; a map or list of which nothing is selected is omitted; several paths into the same map or list
    /// merge; top-level attributes keep the order of the item.
    package func apply(to item: AttributeMap) -> AttributeMap {
        guard let attributes else { return item }
        return Self.select(attributes, from: item)
    }

    private static func select(_ children: [Child], from map: AttributeMap) -> AttributeMap {
        var result = AttributeMap()
        for entry in map.entries {
            guard let child = children.first(where: { $0.name == entry.name }),
                let value = select(child.node, from: entry.value)
            else { continue }
            result.appendNew(name: entry.name, value: value)
        }
        return result
    }

    private static func select(_ node: Node, from value: AttributeValue) -> AttributeValue? {
        switch (node, value) {
        case (.all, _):
            return value
        case (.map(let children), .m(let map)):
            let selected = select(children, from: map)
            return selected.isEmpty ? nil : .m(selected)
        case (.list(let elements), .l(let list)):
            var selected: [AttributeValue] = []
            for element in elements {
                guard element.index < list.count else { break }
                if let value = select(element.node, from: list[element.index]) { selected.append(value) }
            }
            return selected.isEmpty ? nil : .l(selected)
        default:
            return nil
        }
    }

    /// Adds `path` to the trie `children`; false when it overlaps or conflicts with a path already there, which
    /// DynamoDB rejects ("Two document paths overlap" / "conflict with each other").
    private static func insert(_ path: ArraySlice<PathElement>, into children: inout [Child]) -> Bool {
        guard case .name(let name)? = path.first else { return false }
        let rest = path.dropFirst()
        guard let index = children.firstIndex(where: { $0.name == name }) else {
            children.append(Child(name: name, node: node(for: rest)))
            return true
        }
        return insert(rest, into: &children[index].node)
    }

    private static func insert(_ path: ArraySlice<PathElement>, into node: inout Node) -> Bool {
        // One path ends where the other goes on (or both end): they overlap.
        guard let first = path.first, node != .all else { return false }
        switch (first, node) {
        case (.name, .map(var children)):
            guard insert(path, into: &children) else { return false }
            node = .map(children)
            return true
        case (.index(let index), .list(var elements)):
            let rest = path.dropFirst()
            if let position = elements.firstIndex(where: { $0.index == index }) {
                guard insert(rest, into: &elements[position].node) else { return false }
            } else {
                let position = elements.firstIndex { $0.index > index } ?? elements.endIndex
                elements.insert(Element(index: index, node: Self.node(for: rest)), at: position)
            }
            node = .list(elements)
            return true
        default:
            // A name where another path has an index, or the reverse: the paths conflict.
            return false
        }
    }

    /// The chain of nodes that selects `path` and nothing else.
    private static func node(for path: ArraySlice<PathElement>) -> Node {
        guard let first = path.first else { return .all }
        switch first {
        case .name(let name): return .map([Child(name: name, node: node(for: path.dropFirst()))])
        case .index(let index): return .list([Element(index: index, node: node(for: path.dropFirst()))])
        }
    }
}

/// One step of a document path.
enum PathElement: Hashable, Sendable {
    case name(String)
    case index(Int)
}

/// Parses a ProjectionExpression: document paths separated by commas.
///
/// Grammar accepted (a subset of DynamoDB's, see `ProjectionPlan`):
/// `expression := ws path (ws "," ws path)* ws`, `path := name ("." name | "[" digits "]")*`,
/// `name := [A-Za-z_][A-Za-z0-9_]* (not a reserved word) | "#" [A-Za-z0-9_]+ (defined in names)`.
struct ProjectionExpressionParser {
    /// DynamoDB's limit on the length of an expression.
    static let maximumLength = 4096
    /// DynamoDB's limit on document path depth.
    static let maximumPathLength = 32

    let names: [String: String]
    private var usedNames: Set<String> = []

    init(names: [String: String]) {
        self.names = names
    }

    /// Whether every ExpressionAttributeNames entry was used, as DynamoDB requires.
    var usedAllNames: Bool { usedNames.count == names.count }

    /// The paths of `expression`; nil when it is not certainly valid.
    mutating func parse(_ expression: String) -> [[PathElement]]? {
        let bytes = Array(expression.utf8)
        guard bytes.count <= Self.maximumLength else { return nil }
        var paths: [[PathElement]] = []
        var i = skipWhitespace(bytes, from: 0)
        while true {
            guard let (path, end) = parsePath(bytes, from: i) else { return nil }
            paths.append(path)
            i = skipWhitespace(bytes, from: end)
            if i == bytes.count { return paths }
            guard bytes[i] == UInt8(ascii: ",") else { return nil }
            i = skipWhitespace(bytes, from: i + 1)
        }
    }

    private mutating func parsePath(_ bytes: [UInt8], from start: Int) -> ([PathElement], Int)? {
        guard let (first, afterFirst) = parseName(bytes, from: start) else { return nil }
        var path = [first]
        var i = afterFirst
        while i < bytes.count && path.count <= Self.maximumPathLength {
            switch bytes[i] {
            case UInt8(ascii: "."):
                guard let (name, end) = parseName(bytes, from: i + 1) else { return nil }
                path.append(name)
                i = end
            case UInt8(ascii: "["):
                var end = i + 1
                var index = 0
                while end < bytes.count, JSONReader.isDigit(bytes[end]), end - i <= 9 {
                    index = index * 10 + Int(bytes[end] - UInt8(ascii: "0"))
                    end += 1
                }
                guard end > i + 1, end < bytes.count, bytes[end] == UInt8(ascii: "]") else { return nil }
                path.append(.index(index))
                i = end + 1
            default:
                return (path, i)
            }
        }
        return path.count <= Self.maximumPathLength ? (path, i) : nil
    }

    /// A bare attribute name or a `#` placeholder at `start`, resolved.
    private mutating func parseName(_ bytes: [UInt8], from start: Int) -> (PathElement, Int)? {
        guard start < bytes.count else { return nil }
        let isPlaceholder = bytes[start] == UInt8(ascii: "#")
        var end = isPlaceholder ? start + 1 : start
        while end < bytes.count, Self.isNameByte(bytes[end]) { end += 1 }
        let wordStart = isPlaceholder ? start + 1 : start
        guard end > wordStart else { return nil }
        let token = String(decoding: bytes[start..<end], as: UTF8.self)
        if isPlaceholder {
            guard let name = names[token], !name.isEmpty else { return nil }
            usedNames.insert(token)
            return (.name(name), end)
        }
        // A bare name starts with a letter or an underscore and is not a reserved word in any letter case.
        guard !JSONReader.isDigit(bytes[start]), !ProjectionPlan.reservedWords.contains(token.uppercased()) else {
            return nil
        }
        return (.name(token), end)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    private func skipWhitespace(_ bytes: [UInt8], from start: Int) -> Int {
        var i = start
        while i < bytes.count,
            bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") || bytes[i] == UInt8(ascii: "\n")
                || bytes[i] == UInt8(ascii: "\r")
        {
            i += 1
        }
        return i
    }
}
