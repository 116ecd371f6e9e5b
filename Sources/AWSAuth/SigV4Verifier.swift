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

    package init(parsing header: String) throws(SigV4Failure) {
        guard header.hasPrefix(SigV4.algorithm + " ") else {
            throw .incomplete("Authorization header must use the \(SigV4.algorithm) algorithm.")
        }
        var credential: Substring?
        var signed: Substring?
        var signature: Substring?
        for part in header.dropFirst(SigV4.algorithm.count + 1).split(separator: ",") {
            let field = part.drop(while: { $0 == " " })
            if field.hasPrefix("Credential=") {
                credential = field.dropFirst("Credential=".count)
            } else if field.hasPrefix("SignedHeaders=") {
                signed = field.dropFirst("SignedHeaders=".count)
            } else if field.hasPrefix("Signature=") {
                signature = field.dropFirst("Signature=".count)
            }
        }
        var missing: [String] = []
        if credential == nil { missing.append("Authorization header requires 'Credential' parameter.") }
        if signature == nil { missing.append("Authorization header requires 'Signature' parameter.") }
        if signed == nil { missing.append("Authorization header requires 'SignedHeaders' parameter.") }
        guard let credential, let signed, let signature else { throw .incomplete(missing.joined(separator: " ")) }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false)
        guard scope.count == 5, !scope[0].isEmpty else {
            throw .incomplete(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
                    + "got '\(credential)'")
        }
        accessKeyID = String(scope[0])
        day = String(scope[1])
        region = String(scope[2])
        service = String(scope[3])
        terminator = String(scope[4])
        signedHeaders = signed.split(separator: ";").map { $0.lowercased() }
        self.signature = String(signature.trimmingTrailingSpaces())
    }
}

extension Substring {
    fileprivate func trimmingTrailingSpaces() -> Substring {
        var end = endIndex
        while end > startIndex, self[index(before: end)] == " " { end = index(before: end) }
        return self[startIndex..<end]
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
        guard authorization.day == amzDate.prefix(8) else {
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
        guard authorization.signedHeaders.contains("host") else { throw .mismatch }

        // The signed headers' values as received, in the client's (sorted) order of names.
        var values = [String](repeating: "", count: authorization.signedHeaders.count)
        var seen = [Bool](repeating: false, count: values.count)
        for header in headers {
            for (index, name) in authorization.signedHeaders.enumerated()
            where Self.equalsIgnoringCase(header.name, name) {
                values[index] = seen[index] ? values[index] + "," + header.value : header.value
                seen[index] = true
            }
        }
        guard !seen.contains(false) else { throw .mismatch }
        var canonicalHeaders: [(name: String, value: String)] = []
        canonicalHeaders.reserveCapacity(values.count)
        for (index, name) in authorization.signedHeaders.enumerated() {
            canonicalHeaders.append((name: name, value: SigV4.canonicalHeaderValue(values[index])))
        }
        let path: Substring
        let query: Substring
        if let mark = uri.firstIndex(of: "?") {
            path = uri[..<mark]
            query = uri[uri.index(after: mark)...]
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

    static func equalsIgnoringCase(_ name: String, _ lowercased: String) -> Bool {
        name.utf8.count == lowercased.utf8.count
            && zip(name.utf8, lowercased.utf8).allSatisfy { a, b in
                (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") ? a | 0x20 : a) == b
            }
    }
}
