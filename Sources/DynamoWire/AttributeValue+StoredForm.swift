/// Whether a value is spelled the way DynamoDB keeps it, so that a cached copy of a request's item reads back
/// exactly as the storage server would answer it.
///
/// DynamoDB trims numbers ("leading and trailing zeroes are trimmed") and answers them in plain notation, and it
/// answers binaries as padded standard Base64 of their bytes. A value written in any other spelling reads back
/// differently from the server than from a copy of the request, so such an item is not stored from the request.
extension AttributeValue {
    /// True when every number and binary in the value, at any depth, is in the storage server's spelling.
    package var isInStoredForm: Bool {
        switch self {
        case .s, .bool, .null, .ss: true
        case .n(let text): DynamoNumber.isInStoredForm(text)
        case .b(let text): Base64.isInStoredForm(text)
        case .ns(let texts): texts.allSatisfy(DynamoNumber.isInStoredForm)
        case .bs(let texts): texts.allSatisfy(Base64.isInStoredForm)
        case .l(let values): values.allSatisfy(\.isInStoredForm)
        case .m(let map): map.isInStoredForm
        }
    }
}

extension AttributeMap {
    /// True when every attribute's value is in the storage server's spelling (see `AttributeValue.isInStoredForm`).
    package var isInStoredForm: Bool {
        entries.allSatisfy(\.value.isInStoredForm)
    }
}

extension DynamoNumber {
    /// Whether `text` (a valid number) is spelled as DynamoDB answers it: an optional `-`, an integer part without
    /// leading zeroes, and a fraction, if any, without trailing zeroes; no `+`, no exponent, no `-0`.
    static func isInStoredForm(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in
            var i = 0
            let end = utf8.count
            let isNegative = end > 0 && utf8[0] == UInt8(ascii: "-")
            if isNegative { i = 1 }
            guard i < end, JSONReader.isDigit(utf8[i]) else { return false }
            if utf8[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < end && JSONReader.isDigit(utf8[i]) { i += 1 }
            }
            if i == end { return !(isNegative && end == 2 && utf8[1] == UInt8(ascii: "0")) }
            guard utf8[i] == UInt8(ascii: "."), i + 1 < end else { return false }
            i += 1
            while i < end && JSONReader.isDigit(utf8[i]) { i += 1 }
            return i == end && utf8[end - 1] != UInt8(ascii: "0")
        }
    }
}

extension Base64 {
    /// Whether `text` is the standard, padded Base64 encoding of its bytes, the only spelling DynamoDB answers:
    /// whole 4-character groups, `=` only as the last one or two characters, and no bits set beyond the data.
    static func isInStoredForm(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in
            guard utf8.count % 4 == 0 else { return false }
            var padding = 0
            if utf8.count >= 4 {
                if utf8[utf8.count - 1] == UInt8(ascii: "=") { padding += 1 }
                if utf8[utf8.count - 2] == UInt8(ascii: "=") { padding += 1 }
            }
            let dataEnd = utf8.count - padding
            for index in 0..<dataEnd {
                guard sextet(utf8[index]) != nil else { return false }
            }
            guard padding > 0 else { return true }
            // The last data character carries 4 (two `=`) or 2 (one `=`) bits beyond the encoded bytes.
            guard let last = sextet(utf8[dataEnd - 1]) else { return false }
            let unusedBits: UInt8 = padding == 2 ? 0b1111 : 0b11
            return last & unusedBits == 0
        }
    }
}
