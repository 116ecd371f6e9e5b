import Crypto
import NIOConcurrencyHelpers

/// Why a request's signature was not accepted. Each case becomes the error real DynamoDB answers (the mapping
/// lives with the proxy's other DynamoDB errors).
package enum SigV4Failure: Error, Equatable, Sendable {
    /// No `Authorization` header.
    case missing
    /// An `Authorization` header that is not a complete SigV4 one; the text says what is missing.
    case incomplete(String)
    /// An access key id that no client has.
    case unknownAccessKey
    /// A session token: clients authenticate with the long-term keys of their section, never temporary ones.
    case sessionTokenNotAccepted
    /// The request's date is more than the allowed skew before now. Dates are `yyyyMMdd'T'HHmmss'Z'`.
    case expired(requestDate: String, earliest: String, now: String)
    /// The request's date is more than the allowed skew after now.
    case notYetCurrent(requestDate: String, latest: String, now: String)
    /// The credential scope does not fit the request (another day, service or terminator).
    case badScope(String)
    /// The signature is not the one the client's secret gives.
    case mismatch
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.
package struct SigV4Authorization: Sendable, Equatable {
    package var accessKeyID: String
    package var day: String
    package var region: String
    package var service: String
    package var terminator: String
    /// The signed header names, lower-cased, as the client listed them.
    package var signedHeaders: [String]
    package var signature: String

    /// More than any SDK signs (they sign a handful).
    static let maximumSignedHeaders = 64

    package init(parsing header: String) throws(SigV4Failure) {
        // Bytes, not Characters: this runs on every request, and Character-wise splitting of a 200-byte header
        // costs microseconds in grapheme breaking.
        let bytes = Array(header.utf8)
        let prefix = Array((SigV4.algorithm + " ").utf8)
        guard bytes.starts(with: prefix) else {
            throw .incomplete("Authorization header must use the \(SigV4.algorithm) algorithm.")
        }
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        var credential: Range<Int>?
        var signed: Range<Int>?
        var signature: Range<Int>?
        var index = prefix.count
        while index < bytes.count {
            var end = index
            while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
            var start = index
            while start < end, bytes[start] == UInt8(ascii: " ") { start += 1 }
            var last = end
            while last > start, bytes[last - 1] == UInt8(ascii: " ") { last -= 1 }
            let field = bytes[start..<last]
            for (name, slot) in [("Credential=", 0), ("SignedHeaders=", 1), ("Signature=", 2)]
            where field.starts(with: name.utf8) {
                let value = start + name.utf8.count..<last
                switch slot {
                case 0: credential = value
                case 1: signed = value
                default: signature = value
                }
            }
            index = end + 1
        }
        var missing: [String] = []
        if credential == nil { missing.append("Authorization header requires 'Credential' parameter.") }
        if signature == nil { missing.append("Authorization header requires 'Signature' parameter.") }
        if signed == nil { missing.append("Authorization header requires 'SignedHeaders' parameter.") }
        guard let credential, let signed, let signature else { throw .incomplete(missing.joined(separator: " ")) }
        var scope: [Range<Int>] = []
        var partStart = credential.lowerBound
        for position in credential where bytes[position] == UInt8(ascii: "/") {
            scope.append(partStart..<position)
            partStart = position + 1
        }
        scope.append(partStart..<credential.upperBound)
        guard scope.count == 5, !scope[0].isEmpty else {
            throw .incomplete(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
                    + "got '\(text(credential))'")
        }
        accessKeyID = text(scope[0])
        day = text(scope[1])
        region = text(scope[2])
        service = text(scope[3])
        terminator = text(scope[4])
        var names: [String] = []
        var nameStart = signed.lowerBound
        for position in signed.lowerBound...signed.upperBound
        where position == signed.upperBound || bytes[position] == UInt8(ascii: ";") {
            if position > nameStart {
                // SDKs send the names lower-cased already.
                names.append(
                    String(
                        decoding: bytes[nameStart..<position].map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 },
                        as: UTF8.self))
            }
            nameStart = position + 1
        }
        // A bounded, sorted list of distinct names, as SigV4 defines it: anything else would let a request make the
        // canonical request arbitrarily large before the signature is checked.
        guard names.count <= Self.maximumSignedHeaders else {
            throw .incomplete("SignedHeaders may name at most \(Self.maximumSignedHeaders) headers.")
        }
        guard zip(names, names.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw .incomplete("SignedHeaders must list lower-case header names in sorted order, each once.")
        }
        signedHeaders = names
        self.signature = text(signature)
    }
}

/// Checks SigV4 signatures of received requests against the secrets of known clients.
///
/// What is checked, in DynamoDB's order: a complete `Authorization` header, a known access key, a date within
/// `maximumSkew` of now, a scope for this day and service, and the signature over the method, path, query, the
/// signed headers as received and the SHA-256 of the body as received (a body changed on the way fails).
/// Signatures are compared in constant time. Derived signing keys are kept per key, day and region.
package final class SigV4Verifier: Sendable {
    package let service: String
    package let maximumSkew: Int
    private let keys = NIOLockedValueBox([KeyID: SymmetricKey]())

    private struct KeyID: Hashable {
        var accessKeyID: String
        var secret: String
        var day: String
        var region: String
    }

    package init(service: String = "dynamodb", maximumSkewSeconds: Int = 300) {
        self.service = service
        maximumSkew = maximumSkewSeconds
    }

    /// Everything but the signature itself, from the headers alone: what can be refused before a body is read
    /// (a client without a known key cannot make the proxy buffer 16 MB). Returns the parsed authorization, the
    /// secret and the request's date.
    package func precheck<Headers: Sequence<(name: String, value: String)>>(
        headers: Headers,
        now: Int,
        secret: (String) -> String?
    ) throws(SigV4Failure) -> (authorization: SigV4Authorization, secret: String, amzDate: String) {
        var authorizationHeader: String?
        var amzDate: String?
        var token = false
        for header in headers {
            if Self.equalsIgnoringCase(header.name, "authorization") {
                authorizationHeader = header.value
            } else if Self.equalsIgnoringCase(header.name, "x-amz-date") {
                amzDate = header.value
            } else if Self.equalsIgnoringCase(header.name, "x-amz-security-token") {
                token = true
            }
        }
        guard let authorizationHeader else { throw .missing }
        let authorization = try SigV4Authorization(parsing: authorizationHeader)
        guard let secret = secret(authorization.accessKeyID) else { throw .unknownAccessKey }
        guard !token else { throw .sessionTokenNotAccepted }
        guard let amzDate = amzDate.map({ SigV4.canonicalHeaderValue($0) }) else {
            throw .incomplete("Authorization header requires existence of either a 'X-Amz-Date' header.")
        }
        guard let requestTime = SigV4.unixSeconds(amzDate: amzDate) else {
            throw .incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        }
        if requestTime < now - maximumSkew {
            throw .expired(
                requestDate: amzDate, earliest: SigV4.amzDate(unixSeconds: now - maximumSkew),
                now: SigV4.amzDate(unixSeconds: now))
        }
        if requestTime > now + maximumSkew {
            throw .notYetCurrent(
                requestDate: amzDate, latest: SigV4.amzDate(unixSeconds: now + maximumSkew),
                now: SigV4.amzDate(unixSeconds: now))
        }
        guard authorization.day.utf8.elementsEqual(amzDate.utf8.prefix(8)) else {
            throw .badScope(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                    + "'\(authorization.day)' != '\(amzDate.prefix(8))', from '\(amzDate)'.")
        }
        guard authorization.service == service else {
            throw .badScope("Credential should be scoped to correct service: '\(service)'. ")
        }
        guard authorization.terminator == "aws4_request" else {
            throw .badScope(
                "Credential should be scoped with a valid terminator: 'aws4_request', not "
                    + "'\(authorization.terminator)'. ")
        }
        guard authorization.region.utf8.count <= 32, !authorization.region.isEmpty,
            authorization.region.utf8.allSatisfy({
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
                    || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || $0 == UInt8(ascii: "-")
            })
        else {
            throw .badScope("Credential should be scoped to a valid region. ")
        }
        return (authorization, secret, amzDate)
    }

    /// Verifies one request. `secret` returns the secret of an access key id, nil when unknown; `headers` are
    /// the request's headers as received (any case, repeated names allowed). Returns the parsed authorization.
    package func verify<Headers: Sequence<(name: String, value: String)>>(
        method: String,
        uri: String,
        headers: Headers,
        body: UnsafeRawBufferPointer,
        now: Int,
        secret: (String) -> String?
    ) throws(SigV4Failure) -> SigV4Authorization {
        let (authorization, secret, amzDate) = try precheck(headers: headers, now: now, secret: secret)
        guard authorization.signedHeaders.contains("host") else { throw .mismatch }

        // The signed headers' values as received, in the client's (sorted) order of names: one pass over the
        // headers, a binary search of the names for each.
        let names = authorization.signedHeaders  // sorted, distinct, at most 64 (checked when parsed)
        var values = [String?](repeating: nil, count: names.count)
        var unsignedTarget = false
        for header in headers {
            let name = Self.lowercased(header.name)  // no copy for the lower-case names SDKs send
            var low = 0
            var high = names.count
            while low < high {
                let middle = (low + high) / 2
                if names[middle] < name { low = middle + 1 } else { high = middle }
            }
            if low < names.count, names[low] == name {
                if values[low] == nil {
                    values[low] = header.value
                } else {
                    values[low]!.append(",")  // in place: many repeats stay linear
                    values[low]!.append(header.value)
                }
            } else if name == "x-amz-target" {
                unsignedTarget = true
            }
        }
        // The operation must be covered, or a captured request could be replayed as another one.
        guard !unsignedTarget else { throw .incomplete("'X-Amz-Target' must be a signed header.") }
        guard !values.contains(where: { $0 == nil }) else { throw .mismatch }
        var canonicalHeaders: [(name: String, value: String)] = []
        canonicalHeaders.reserveCapacity(values.count)
        for (index, name) in names.enumerated() {
            canonicalHeaders.append((name: name, value: SigV4.canonicalHeaderValue(values[index]!)))
        }
        let path: Substring
        let query: Substring
        if let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = uri[..<mark]
            query = uri[uri.utf8.index(after: mark)...]
        } else {
            path = Substring(uri)
            query = ""
        }
        let request = SigV4.canonicalRequest(
            method: method,
            canonicalURI: SigV4.canonicalURI(path),
            canonicalQuery: SigV4.canonicalQuery(query),
            headers: canonicalHeaders,
            signedHeaders: authorization.signedHeaders.joined(separator: ";"),
            payloadHash: SigV4.payloadHash(body)
        )
        let scope = SigV4.scope(day: authorization.day, region: authorization.region, service: service)
        let expected = SigV4.signature(
            of: SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: request),
            key: key(for: authorization, secret: secret))
        guard Self.constantTimeEqual(expected, authorization.signature) else { throw .mismatch }
        return authorization
    }

    private func key(for authorization: SigV4Authorization, secret: String) -> SymmetricKey {
        let id = KeyID(
            accessKeyID: authorization.accessKeyID, secret: secret, day: authorization.day,
            region: authorization.region)
        if let key = keys.withLockedValue({ $0[id] }) { return key }
        let key = SigV4.deriveKey(secret: secret, day: id.day, region: id.region, service: service)
        keys.withLockedValue { keys in
            // Bounded: a client that signs for many regions or days cannot grow it without end.
            if keys.count >= 1024 { keys.removeAll(keepingCapacity: true) }
            keys[id] = key
        }
        return key
    }

    /// True when `a` and `b` hold the same bytes, in time that depends only on their lengths.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    /// ASCII lower case, without Unicode case mapping (header names are ASCII).
    static func lowercased(_ name: String) -> String {
        guard name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else { return name }
        return String(decoding: name.utf8.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    static func equalsIgnoringCase(_ name: String, _ lowercased: String) -> Bool {
        name.utf8.count == lowercased.utf8.count
            && zip(name.utf8, lowercased.utf8).allSatisfy { a, b in
                (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") ? a | 0x20 : a) == b
            }
    }
}
