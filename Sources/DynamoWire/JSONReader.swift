/// The JSON type of a value.
package enum JSONKind: UInt8, Hashable, Sendable {
    case object
    case array
    case string
    case number
    case bool
    case null

    /// The kind of the value that starts with `byte`, in bytes that were validated.
    init(firstByte byte: UInt8) {
        switch byte {
        case UInt8(ascii: "{"): self = .object
        case UInt8(ascii: "["): self = .array
        case UInt8(ascii: "\""): self = .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): self = .bool
        case UInt8(ascii: "n"): self = .null
        default: self = .number
        }
    }
}

/// A value inside validated JSON bytes: its kind and the bytes it spans (for a string, including the quotes).
package struct JSONValue: Hashable, Sendable {
    package var kind: JSONKind
    package var range: Range<Int>

    package init(kind: JSONKind, range: Range<Int>) {
        self.kind = kind
        self.range = range
    }
}

/// A member of a JSON object: the raw bytes of its name (between the quotes, escapes not decoded) and its value.
package struct JSONMember: Hashable, Sendable {
    package var name: Range<Int>
    package var value: JSONValue

    package init(name: Range<Int>, value: JSONValue) {
        self.name = name
        self.value = value
    }
}

/// An RFC 8259 validator over raw bytes.
///
/// One pass, no recursion and no allocation besides the caller's member array: nesting is tracked in a 128-bit
/// set (one bit per open container, set for an object), so depth is bounded by `maximumDepth` and hostile input
/// cannot exhaust the stack. Strings are checked for escapes (including surrogate pairs) and UTF-8 validity
/// (Unicode table 3-7), eight bytes at a time while they hold nothing that needs a closer look.
package enum JSONReader {
    /// The deepest nesting accepted. DynamoDB allows 32 levels of attribute nesting, and each level takes two JSON
    /// levels (`{"M":{...}}`) below the request's own few; 128 leaves room and still fits the bit set.
    package static let maximumDepth = 128
    /// DynamoDB's limit on the size of a request body: 16 MB.
    package static let maximumBodySize = 16 * 1024 * 1024

    /// Validates `bytes` as one JSON value surrounded by optional whitespace and returns it. When that value is
    /// an object, its members are appended to `topLevelMembers` in body order.
    package static func validate(
        _ bytes: UnsafeRawBufferPointer,
        topLevelMembers: inout [JSONMember]
    ) throws(WireError) -> JSONValue {
        let end = bytes.count
        var i = skipWhitespace(bytes, from: 0)
        guard i < end else { throw .emptyBody }
        let rootStart = i
        let rootIsObject = bytes[i] == UInt8(ascii: "{")
        var depth = 0
        var objectBits = ContainerBits()
        var memberName = 0..<0
        var memberStart = 0
        var expectingValue = true

        while true {
            if expectingValue {
                guard i < end else { throw .truncated }
                if depth == 1 && rootIsObject { memberStart = i }
                switch bytes[i] {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth < maximumDepth else { throw .tooDeep }
                    let isObject = bytes[i] == UInt8(ascii: "{")
                    objectBits.set(depth, isObject)
                    depth += 1
                    i = skipWhitespace(bytes, from: i + 1)
                    guard i < end else { throw .truncated }
                    if bytes[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        i += 1
                        depth -= 1
                        expectingValue = false
                    } else if isObject {
                        let name = try scanMemberName(bytes, from: i)
                        if depth == 1 { memberName = name.name }
                        i = name.valueStart
                    }
                case UInt8(ascii: "\""):
                    i = try scanString(bytes, from: i)
                    expectingValue = false
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    i = try scanNumber(bytes, from: i)
                    expectingValue = false
                case UInt8(ascii: "t"):
                    i = try scanLiteral(bytes, from: i, "true")
                    expectingValue = false
                case UInt8(ascii: "f"):
                    i = try scanLiteral(bytes, from: i, "false")
                    expectingValue = false
                case UInt8(ascii: "n"):
                    i = try scanLiteral(bytes, from: i, "null")
                    expectingValue = false
                default:
                    throw .invalidJSON(offset: i)
                }
            } else {
                // A value has just ended at i.
                if depth == 0 { break }
                if depth == 1 && rootIsObject {
                    let value = JSONValue(kind: JSONKind(firstByte: bytes[memberStart]), range: memberStart..<i)
                    topLevelMembers.append(JSONMember(name: memberName, value: value))
                }
                i = skipWhitespace(bytes, from: i)
                guard i < end else { throw .truncated }
                let inObject = objectBits[depth - 1]
                let byte = bytes[i]
                if byte == UInt8(ascii: ",") {
                    i = skipWhitespace(bytes, from: i + 1)
                    if inObject {
                        let name = try scanMemberName(bytes, from: i)
                        if depth == 1 { memberName = name.name }
                        i = name.valueStart
                    }
                    expectingValue = true
                } else if byte == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    i += 1
                    depth -= 1
                } else {
                    throw .invalidJSON(offset: i)
                }
            }
        }
        let rootEnd = i
        i = skipWhitespace(bytes, from: i)
        guard i == end else { throw .invalidJSON(offset: i) }
        return JSONValue(kind: JSONKind(firstByte: bytes[rootStart]), range: rootStart..<rootEnd)
    }

    /// One bit per nesting level, set when the container open at that level is an object.
    private struct ContainerBits {
        private var low: UInt64 = 0
        private var high: UInt64 = 0

        subscript(level: Int) -> Bool {
            let bit: UInt64 = 1 << UInt64(level & 63)
            return (level < 64 ? low : high) & bit != 0
        }

        mutating func set(_ level: Int, _ isObject: Bool) {
            let bit: UInt64 = 1 << UInt64(level & 63)
            if level < 64 {
                low = isObject ? low | bit : low & ~bit
            } else {
                high = isObject ? high | bit : high & ~bit
            }
        }
    }

    /// Index of the first byte at or after `i` that is not JSON whitespace.
    @inline(__always)
    static func skipWhitespace(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): i += 1
            default: return i
            }
        }
        return i
    }

    /// Scans `"name"` then `:` at `start`; returns the name's raw range and the index of the member's value.
    private static func scanMemberName(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int
    ) throws(WireError) -> (name: Range<Int>, valueStart: Int) {
        guard start < bytes.count else { throw .truncated }
        guard bytes[start] == UInt8(ascii: "\"") else { throw .invalidJSON(offset: start) }
        let nameEnd = try scanString(bytes, from: start)
        let colon = skipWhitespace(bytes, from: nameEnd)
        guard colon < bytes.count else { throw .truncated }
        guard bytes[colon] == UInt8(ascii: ":") else { throw .invalidJSON(offset: colon) }
        return (start + 1..<nameEnd - 1, skipWhitespace(bytes, from: colon + 1))
    }

    /// Validates the string whose opening quote is at `start`; returns the index after its closing quote.
    static func scanString(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(WireError) -> Int {
        let end = bytes.count
        var i = start + 1
        while true {
            while i + 8 <= end, !mayNeedAttention(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i += 8
            }
            guard i < end else { throw .truncated }
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""):
                return i + 1
            case UInt8(ascii: "\\"):
                i = try scanEscape(bytes, from: i)
            case 0..<0x20:
                throw .invalidJSON(offset: i)
            case 0x20..<0x80:
                i += 1
            default:
                i = try scanUTF8Sequence(bytes, from: i)
            }
        }
    }

    /// True when some byte of the word is a quote, a backslash, a control character or not ASCII.
    @inline(__always)
    static func mayNeedAttention(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        // Classic "has a byte less than n" tests; a non-ASCII byte sets a high bit by itself.
        let control = (word &- ones &* 0x20)
        let quote = (quotes &- ones) & ~quotes
        let backslash = (backslashes &- ones) & ~backslashes
        return ((control | quote | backslash) & highBits) | (word & highBits) != 0
    }

    /// Validates the escape whose backslash is at `start`; returns the index after it.
    private static func scanEscape(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(WireError) -> Int {
        guard start + 1 < bytes.count else { throw .truncated }
        switch bytes[start + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return start + 2
        case UInt8(ascii: "u"):
            let unit = try hexQuad(bytes, at: start + 2)
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed by the escape of a low one.
                for (offset, expected) in [(6, UInt8(ascii: "\\")), (7, UInt8(ascii: "u"))] {
                    guard start + offset < bytes.count else { throw .truncated }
                    guard bytes[start + offset] == expected else { throw .invalidUTF8(offset: start) }
                }
                guard (0xDC00...0xDFFF).contains(try hexQuad(bytes, at: start + 8)) else {
                    throw .invalidUTF8(offset: start)
                }
                return start + 12
            case 0xDC00...0xDFFF:
                throw .invalidUTF8(offset: start)
            default:
                return start + 6
            }
        default:
            throw .invalidJSON(offset: start)
        }
    }

    /// The value of the four hex digits at `start`.
    static func hexQuad(_ bytes: UnsafeRawBufferPointer, at start: Int) throws(WireError) -> UInt32 {
        var value: UInt32 = 0
        for i in start..<start + 4 {
            guard i < bytes.count else { throw .truncated }
            let byte = bytes[i]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .invalidJSON(offset: i)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Validates the multi-byte UTF-8 sequence that starts at `start`; returns the index after it.
    private static func scanUTF8Sequence(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int
    ) throws(WireError) -> Int {
        // Allowed range of the second byte and the total length, per lead byte (Unicode table 3-7): this rejects
        // overlong forms, surrogates and code points above U+10FFFF.
        let second: ClosedRange<UInt8>
        let length: Int
        switch bytes[start] {
        case 0xC2...0xDF: (second, length) = (0x80...0xBF, 2)
        case 0xE0: (second, length) = (0xA0...0xBF, 3)
        case 0xE1...0xEC, 0xEE...0xEF: (second, length) = (0x80...0xBF, 3)
        case 0xED: (second, length) = (0x80...0x9F, 3)
        case 0xF0: (second, length) = (0x90...0xBF, 4)
        case 0xF1...0xF3: (second, length) = (0x80...0xBF, 4)
        case 0xF4: (second, length) = (0x80...0x8F, 4)
        default: throw .invalidUTF8(offset: start)
        }
        guard start + length <= bytes.count else { throw .truncated }
        guard second.contains(bytes[start + 1]) else { throw .invalidUTF8(offset: start + 1) }
        for i in start + 2..<start + length where bytes[i] & 0xC0 != 0x80 {
            throw .invalidUTF8(offset: i)
        }
        return start + length
    }

    /// Validates the number at `start` (`-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`).
    private static func scanNumber(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(WireError) -> Int {
        let end = bytes.count
        var i = start
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < end else { throw .truncated }
        switch bytes[i] {
        case UInt8(ascii: "0"):
            i += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            i = skipDigits(bytes, from: i + 1)
        default:
            throw .invalidJSON(offset: i)
        }
        if i < end && bytes[i] == UInt8(ascii: ".") {
            i = try requireDigits(bytes, from: i + 1)
        }
        if i < end && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            if i < end && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            i = try requireDigits(bytes, from: i)
        }
        return i
    }

    /// One or more digits at `start`; returns the index after them.
    private static func requireDigits(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(WireError) -> Int {
        guard start < bytes.count else { throw .truncated }
        guard isDigit(bytes[start]) else { throw .invalidJSON(offset: start) }
        return skipDigits(bytes, from: start + 1)
    }

    @inline(__always)
    private static func skipDigits(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        return i
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    /// Checks that `literal` (true, false or null) is at `start`; returns the index after it.
    private static func scanLiteral(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        _ literal: StaticString
    ) throws(WireError) -> Int {
        let count = literal.utf8CodeUnitCount
        for k in 0..<count {
            guard start + k < bytes.count else { throw .truncated }
            guard bytes[start + k] == literal.utf8Start[k] else { throw .invalidJSON(offset: start + k) }
        }
        return start + count
    }
}
