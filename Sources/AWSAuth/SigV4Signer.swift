import Crypto
import NIOConcurrencyHelpers

/// Signs requests with Signature Version 4, as the AWS SDKs do.
///
/// The derived signing key depends only on the secret, the day, the region and the service, so it is kept until
/// one of them changes: a signature then costs two SHA-256 digests and one HMAC.
package struct SigV4Signer: Sendable {
    package var credentials: AWSCredentials
    package let region: String
    package let service: String
    private var cachedKey: CachedKey?

    private struct CachedKey: Sendable {
        var secret: String
        var day: Substring
        var key: SymmetricKey
    }

    package init(credentials: AWSCredentials, region: String, service: String = "dynamodb") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The `Authorization` header value for a request. `headers` are the headers to sign (any case, any order; the
    /// host and `x-amz-date` must be among them, and `x-amz-security-token` with temporary credentials).
    /// `amzDate` is `yyyyMMdd'T'HHmmss'Z'`.
    package mutating func authorization(
        method: String,
        path: some StringProtocol,
        query: some StringProtocol,
        headers: [(name: String, value: String)],
        payloadHash: String,
        amzDate: String
    ) -> String {
        var canonical = headers.map { header in
            let lower = header.name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") })
            return (
                name: lower ? header.name.lowercased() : header.name, value: SigV4.canonicalHeaderValue(header.value)
            )
        }
        canonical.sort { $0.name < $1.name }
        let signedHeaders = canonical.map(\.name).joined(separator: ";")
        let day = amzDate.prefix(8)
        let key = signingKey(day: day)
        let scope = SigV4.scope(day: day, region: region, service: service)
        let request = SigV4.canonicalRequest(
            method: method,
            canonicalURI: SigV4.canonicalURI(path),
            canonicalQuery: SigV4.canonicalQuery(query),
            headers: canonical,
            signedHeaders: signedHeaders,
            payloadHash: payloadHash
        )
        let signature = SigV4.signature(
            of: SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: request), key: key)
        return "\(SigV4.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), "
            + "Signature=\(signature)"
    }

    /// The `Authorization` header value for a DynamoDB JSON request (`POST /`), signing the headers the SDKs
    /// sign: content-type, host, x-amz-date, x-amz-target and, with temporary credentials, x-amz-security-token.
    package mutating func authorization(
        host: String,
        amzDate: String,
        target: String,
        body: UnsafeRawBufferPointer
    ) -> String {
        var headers = [
            (name: "content-type", value: "application/x-amz-json-1.0"), (name: "host", value: host),
            (name: "x-amz-date", value: amzDate), (name: "x-amz-target", value: target),
        ]
        if let token = credentials.sessionToken { headers.append((name: "x-amz-security-token", value: token)) }
        return authorization(
            method: "POST", path: "/", query: "", headers: headers, payloadHash: SigV4.payloadHash(body),
            amzDate: amzDate)
    }

    private mutating func signingKey(day: Substring) -> SymmetricKey {
        if let cachedKey, cachedKey.day == day, cachedKey.secret == credentials.secretAccessKey {
            return cachedKey.key
        }
        let key = SigV4.deriveKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        cachedKey = CachedKey(secret: credentials.secretAccessKey, day: day, key: key)
        return key
    }
}

/// Signs requests with whatever credentials a ``CredentialsCache`` holds now; shared by every event loop.
package final class RequestSigner: Sendable {
    package let region: String
    package let service: String
    private let credentials: CredentialsCache
    /// One signer per credentials in use; the lock is held for the few microseconds a signature takes.
    private let signer: NIOLockedValueBox<SigV4Signer?>

    package init(credentials: CredentialsCache, region: String, service: String = "dynamodb") {
        self.credentials = credentials
        self.region = region
        self.service = service
        signer = NIOLockedValueBox(nil)
    }

    /// The headers to add to a request so that it is signed: `X-Amz-Date`, `X-Amz-Security-Token` (temporary
    /// credentials) and `Authorization`. `headers` are the request's headers to sign, host included; the date and
    /// token are added to them here. Fails when there are no usable credentials.
    package func sign(
        method: String,
        path: some StringProtocol,
        query: some StringProtocol,
        headers: [(name: String, value: String)],
        payloadHash: String,
        unixSeconds: Int
    ) throws(CredentialError) -> [(name: String, value: String)] {
        let current = try credentials.usable()
        let amzDate = SigV4.amzDate(unixSeconds: unixSeconds)
        var added = [(name: "X-Amz-Date", value: amzDate)]
        if let token = current.sessionToken { added.append((name: "X-Amz-Security-Token", value: token)) }
        let region = self.region
        let service = self.service
        let authorization = signer.withLockedValue { signer in
            if signer?.credentials != current {
                signer = SigV4Signer(credentials: current, region: region, service: service)
            }
            return signer!.authorization(
                method: method, path: path, query: query, headers: headers + added, payloadHash: payloadHash,
                amzDate: amzDate)
        }
        added.append((name: "Authorization", value: authorization))
        return added
    }
}
