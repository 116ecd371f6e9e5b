/// The INI dialect of the AWS shared credentials and config files: `[section]` headers, `key = value` lines,
/// whole-line `#` and `;` comments. Indented lines after a key with an empty value are that key's nested
/// settings (`s3 =` followed by `  addressing_style = path`); they are kept apart from the section's own keys.
package struct INIFile: Sendable, Equatable {
    package struct Section: Sendable, Equatable {
        package var name: String
        /// 1-based line of the `[name]` header.
        package var line: Int
        /// The section's keys in file order, with the line each is on.
        package var entries: [(key: String, value: String, line: Int)]

        package func value(_ key: String) -> String? {
            entries.last(where: { $0.key == key })?.value
        }

        package static func == (a: Section, b: Section) -> Bool {
            a.name == b.name && a.line == b.line
                && a.entries.elementsEqual(b.entries) { $0.key == $1.key && $0.value == $1.value && $0.line == $1.line }
        }
    }

    package var sections: [Section]

    /// A line the parser cannot read.
    package struct ParseError: Error, Equatable, CustomStringConvertible {
        package var line: Int
        package var reason: String
        package var description: String { "line \(line): \(reason)" }
    }

    /// `nestedSettings` false makes an indented setting an error instead of a nested one (the client credentials
    /// file, where a misplaced `access = read` must not be dropped silently).
    package init(parsing text: String, nestedSettings: Bool = true) throws(ParseError) {
        sections = []
        var nestedUnder: String?
        var number = 0
        // "\r\n" is one Character in Swift, so both line ends are named.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            let indented = line.first == " " || line.first == "\t"
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]") else { throw ParseError(line: number, reason: "unclosed section header") }
                let name = trimmed.dropFirst().dropLast().trimmingSpaces()
                guard !name.isEmpty else { throw ParseError(line: number, reason: "empty section name") }
                sections.append(Section(name: String(name), line: number, entries: []))
                nestedUnder = nil
                continue
            }
            guard !sections.isEmpty else {
                throw ParseError(line: number, reason: "a setting before the first [section]")
            }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ParseError(line: number, reason: "expected key = value")
            }
            let key = trimmed[..<equals].trimmingSpaces()
            let value = trimmed[trimmed.index(after: equals)...].trimmingSpaces()
            guard !key.isEmpty else { throw ParseError(line: number, reason: "a setting without a name") }
            if indented, nestedUnder != nil {
                guard nestedSettings else {
                    throw ParseError(line: number, reason: "an indented setting (nested settings are not allowed here)")
                }
                continue  // a nested setting: not one of the section's own
            }
            sections[sections.count - 1].entries.append((key: String(key), value: String(value), line: number))
            nestedUnder = value.isEmpty ? String(key) : nil
        }
    }

    /// The last section called `name` (SDKs let a later section of the same name win).
    package func section(_ name: String) -> Section? {
        sections.last(where: { $0.name == name })
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingSpaces() -> SubSequence {
        var start = startIndex
        var end = endIndex
        while start < end, self[start] == " " || self[start] == "\t" { start = index(after: start) }
        while end > start, self[index(before: end)] == " " || self[index(before: end)] == "\t" {
            end = index(before: end)
        }
        return self[start..<end]
    }
}
