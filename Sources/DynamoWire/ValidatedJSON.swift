/// Navigation in bytes that `JSONReader.validate` accepted.
///
/// Nothing is checked again: the grammar, escapes and UTF-8 were all verified in the validating pass, so skipping
/// a value only needs to find where it ends. Only valid while the bytes it borrows are.
struct ValidatedJSON {
    let bytes: UnsafeRawBufferPointer

    /// Index after the value that starts at `start`.
    func valueEnd(from start: Int) -> Int {
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return stringEnd(from: start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var i = start
            while true {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    i = stringEnd(from: i)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default:
                    break
                }
                i += 1
            }
        default:
            var i = start + 1
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: " "), UInt8(ascii: "\n"),
                    UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    return i
                default:
                    i += 1
                }
            }
            return i
        }
    }

    /// Index after the closing quote of the string whose opening quote is at `start`.
    func stringEnd(from start: Int) -> Int {
        var i = start + 1
        while true {
            while i + 8 <= bytes.count,
                !Self.hasQuoteOrBackslash(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            {
                i += 8
            }
            switch bytes[i] {
            case UInt8(ascii: "\""): return i + 1
            case UInt8(ascii: "\\"): i += 2
            default: i += 1
            }
        }
    }

    @inline(__always)
    private static func hasQuoteOrBackslash(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        return ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes) & (ones &* 0x80) != 0
    }

    /// The members of `object`, in body order.
    func members(of object: JSONValue) -> MemberIterator {
        MemberIterator(json: self, index: JSONReader.skipWhitespace(bytes, from: object.range.lowerBound + 1))
    }

    /// The elements of `array`, in body order.
    func elements(of array: JSONValue) -> ElementIterator {
        ElementIterator(json: self, index: JSONReader.skipWhitespace(bytes, from: array.range.lowerBound + 1))
    }

    /// Iterates the members of an object.
    struct MemberIterator: IteratorProtocol, Sequence {
        let json: ValidatedJSON
        var index: Int

        mutating func next() -> JSONMember? {
            let bytes = json.bytes
            guard bytes[index] == UInt8(ascii: "\"") else { return nil }
            let nameEnd = json.stringEnd(from: index)
            let name = index + 1..<nameEnd - 1
            let colon = JSONReader.skipWhitespace(bytes, from: nameEnd)
            let valueStart = JSONReader.skipWhitespace(bytes, from: colon + 1)
            let value = json.value(at: valueStart)
            index = json.afterSeparator(value.range.upperBound)
            return JSONMember(name: name, value: value)
        }
    }

    /// Iterates the elements of an array.
    struct ElementIterator: IteratorProtocol, Sequence {
        let json: ValidatedJSON
        var index: Int

        mutating func next() -> JSONValue? {
            guard json.bytes[index] != UInt8(ascii: "]") else { return nil }
            let value = json.value(at: index)
            index = json.afterSeparator(value.range.upperBound)
            return value
        }
    }

    /// The value that starts at `start`.
    func value(at start: Int) -> JSONValue {
        JSONValue(kind: JSONKind(firstByte: bytes[start]), range: start..<valueEnd(from: start))
    }

    /// Index of the next member or element after a value that ended at `end`, or of the closing bracket.
    private func afterSeparator(_ end: Int) -> Int {
        let i = JSONReader.skipWhitespace(bytes, from: end)
        return bytes[i] == UInt8(ascii: ",") ? JSONReader.skipWhitespace(bytes, from: i + 1) : i
    }

    /// Whether the raw member name at `name` spells `literal` once escapes are decoded.
    func name(_ name: Range<Int>, equals literal: StaticString) -> Bool {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[name])
        let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        if raw.elementsEqual(expected) { return true }
        // An escaped name is never shorter than what it decodes to, and escapes in member names are rare.
        guard raw.count > expected.count, raw.contains(UInt8(ascii: "\\")) else { return false }
        return decodeString(contents: name).utf8.elementsEqual(expected)
    }

    /// The decoded text of a string value (`value.range` includes the quotes).
    func string(_ value: JSONValue) -> String {
        decodeString(contents: value.range.lowerBound + 1..<value.range.upperBound - 1)
    }

    /// Decodes the raw string contents at `range` (between the quotes), resolving escapes.
    func decodeString(contents range: Range<Int>) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
        guard raw.contains(UInt8(ascii: "\\")) else {
            // Validated UTF-8: decoding repairs nothing, and short strings are stored inline.
            return String(decoding: raw, as: UTF8.self)
        }
        // Escapes never decode to more bytes than they take, so the raw length bounds the result.
        return String(unsafeUninitializedCapacity: raw.count) { out in
            var i = 0
            var n = 0
            while i < raw.count {
                let byte = raw[i]
                guard byte == UInt8(ascii: "\\") else {
                    out[n] = byte
                    n += 1
                    i += 1
                    continue
                }
                let escaped = raw[i + 1]
                i += 2
                switch escaped {
                case UInt8(ascii: "b"): out[n] = 0x08
                case UInt8(ascii: "f"): out[n] = 0x0C
                case UInt8(ascii: "n"): out[n] = 0x0A
                case UInt8(ascii: "r"): out[n] = 0x0D
                case UInt8(ascii: "t"): out[n] = 0x09
                case UInt8(ascii: "u"):
                    var scalar = Self.hexValue(raw, at: i)
                    i += 4
                    if (0xD800...0xDBFF).contains(scalar) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10 | (Self.hexValue(raw, at: i + 2) - 0xDC00))
                        i += 6
                    }
                    // Validation excluded lone surrogates, so the replacement character is never used.
                    for unit in (Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8 {
                        out[n] = unit
                        n += 1
                    }
                    continue
                default: out[n] = escaped
                }
                n += 1
            }
            return n
        }
    }

    /// The four validated hex digits at `start`.
    private static func hexValue(_ raw: UnsafeRawBufferPointer, at start: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in start..<start + 4 {
            let byte = raw[i] | 0x20  // lower-case letters; digits are unaffected
            value =
                value << 4
                | UInt32(byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : byte - UInt8(ascii: "a") + 10)
        }
        return value
    }
}
