import Crypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The pieces of Signature Version 4 (AWS General Reference, "Create a signed AWS API request") shared by the
/// signer and the verifier, so that both compute the canonical request the same way.
package enum SigV4 {
    package static let algorithm = "AWS4-HMAC-SHA256"

    /// The credential scope `DAY/REGION/SERVICE/aws4_request`.
    package static func scope(day: some StringProtocol, region: String, service: String) -> String {
        "\(day)/\(region)/\(service)/aws4_request"
    }

    /// The canonical request. `headers` are the signed headers: lower-cased names in sorted order with canonical
    /// values (see ``canonicalHeaderValue(_:)``); `signedHeaders` is their names joined by `;`.
    package static func canonicalRequest(
        method: String,
        canonicalURI: String,
        canonicalQuery: String,
        headers: [(name: String, value: String)],
        signedHeaders: String,
        payloadHash: String
    ) -> String {
        var text = method
        text.reserveCapacity(256)
        text += "\n"
        text += canonicalURI
        text += "\n"
        text += canonicalQuery
        text += "\n"
        for header in headers {
            text += header.name
            text += ":"
            text += header.value
            text += "\n"
        }
        text += "\n"
        text += signedHeaders
        text += "\n"
        text += payloadHash
        return text
    }

    /// The string to sign for a canonical request.
    package static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        var canonical = canonicalRequest
        let digest = canonical.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return "\(algorithm)\n\(amzDate)\n\(scope)\n\(hex(digest))"
    }

    /// The signing key for one day, region and service.
    package static func deriveKey(secret: String, day: some StringProtocol, region: String, service: String)
        -> SymmetricKey
    {
        var key = SymmetricKey(data: Array("AWS4\(secret)".utf8))
        for part in [String(day), region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    /// The hex signature of `stringToSign`.
    package static func signature(of stringToSign: String, key: SymmetricKey) -> String {
        var text = stringToSign
        let code = text.withUTF8 { HMAC<SHA256>.authenticationCode(for: UnsafeRawBufferPointer($0), using: key) }
        return hex(code)
    }

    /// Hex SHA-256 of a payload.
    package static func payloadHash(_ body: UnsafeRawBufferPointer) -> String {
        hex(SHA256.hash(data: body))
    }

    /// The canonical URI of a path as it was sent: every byte but the unreserved ones and `/` percent-encoded.
    /// Services other than S3 sign the path encoded once more than it is sent, which this does (a `%` becomes
    /// `%25`). An empty path is `/`.
    package static func canonicalURI(_ path: some StringProtocol) -> String {
        path.isEmpty ? "/" : percentEncode(path, keepingSlash: true)
    }

    /// The canonical query string: parameters sorted by name then value, each name and value decoded and
    /// encoded again in the canonical way.
    package static func canonicalQuery(_ query: some StringProtocol) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for part in Substring(query).split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring
            let value: Substring
            if let equals = part.firstIndex(of: "=") {
                name = part[..<equals]
                value = part[part.index(after: equals)...]
            } else {
                name = part
                value = ""
            }
            pairs.append(
                (
                    percentEncode(percentDecode(name), keepingSlash: false),
                    percentEncode(percentDecode(value), keepingSlash: false)
                ))
        }
        pairs.sort { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// A header value as it is signed: leading and trailing whitespace removed, inner runs of spaces made one.
    package static func canonicalHeaderValue(_ value: some StringProtocol) -> String {
        // Most values have nothing to trim or collapse: keep them as they are, without a copy.
        if let value = value as? String, !needsTrimming(value.utf8) { return value }
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for byte in value.utf8 {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(UInt8(ascii: " "))
                pendingSpace = false
            }
            out.append(byte)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func needsTrimming(_ utf8: String.UTF8View) -> Bool {
        var previousSpace = true  // a leading space needs trimming
        for byte in utf8 {
            let space = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            if space && (previousSpace || byte == UInt8(ascii: "\t")) { return true }
            previousSpace = space
        }
        return previousSpace && !utf8.isEmpty  // a trailing space
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    private static let upperHex: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func percentEncode(_ text: some StringProtocol, keepingSlash: Bool) -> String {
        if text.utf8.allSatisfy({ isUnreserved($0) || (keepingSlash && $0 == UInt8(ascii: "/")) }) {
            return String(text)  // DynamoDB's "/" and most query text: nothing to encode
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepingSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(upperHex[Int(byte >> 4)])
                out.append(upperHex[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func percentDecode(_ text: some StringProtocol) -> String {
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let high = nibble(bytes[i + 1]),
                let low = nibble(bytes[i + 2])
            {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let lowerHex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case hex of bytes, as SigV4 writes digests and signatures.
    package static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let input = Array(bytes)
        return String(unsafeUninitializedCapacity: input.count * 2) { out in
            for (index, byte) in input.enumerated() {
                out[2 * index] = lowerHex[Int(byte >> 4)]
                out[2 * index + 1] = lowerHex[Int(byte & 0xF)]
            }
            return input.count * 2
        }
    }

    /// `yyyyMMdd'T'HHmmss'Z'` for a Unix time in seconds (UTC).
    package static func amzDate(unixSeconds: Int) -> String {
        var time = time_t(unixSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    /// The Unix time of an `yyyyMMdd'T'HHmmss'Z'` date; nil when it has another form.
    package static func unixSeconds(amzDate: some StringProtocol) -> Int? {
        let bytes = Array(amzDate.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? { CalendarTime.decimal(bytes[range]) }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        return CalendarTime.unixSeconds(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }
}

/// UTC calendar dates to Unix time, without Foundation.
package enum CalendarTime {
    /// The value of a few ASCII digits; nil when any byte is not one.
    static func decimal(_ digits: ArraySlice<UInt8>) -> Int32? {
        var value: Int32 = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int32(byte - UInt8(ascii: "0"))
        }
        return value
    }

    package static func unixSeconds(year: Int32, month: Int32, day: Int32, hour: Int32, minute: Int32, second: Int32)
        -> Int
    {
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int(timegm(&parts))
    }

    /// The Unix time of an ISO 8601 UTC timestamp as AWS writes expirations: `2026-12-01T09:09:13Z`, with optional
    /// fractional seconds and `Z` or `+00:00`. Nil for any other form.
    package static func unixSeconds(iso8601 text: some StringProtocol) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " "), bytes[13] == UInt8(ascii: ":"),
            bytes[16] == UInt8(ascii: ":")
        else { return nil }
        func number(_ range: Range<Int>) -> Int32? { decimal(bytes[range]) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                fraction += Double(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
        }
        let zone = bytes[index...]
        guard zone.elementsEqual("Z".utf8) || zone.elementsEqual("+00:00".utf8) || zone.isEmpty else { return nil }
        return Double(unixSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second))
            + fraction
    }
}
