import Crypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// AWS credentials, as the SDKs read them from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`.
package struct AWSCredentials: Sendable, Equatable {
    package var accessKeyID: String
    package var secretAccessKey: String
    package var sessionToken: String?

    package init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// Signature Version 4 for DynamoDB's JSON API (`POST /`), signing the same headers the SDKs sign:
/// content-type, host, x-amz-date, x-amz-target and, with temporary credentials, x-amz-security-token.
///
/// Every request is signed afresh, as an SDK does, so the generator pays what a real client pays. The derived
/// signing key depends only on the day, so it is kept until the day changes: a signature then costs two SHA-256
/// digests and one HMAC.
package struct SigV4Signer: Sendable {
    package let credentials: AWSCredentials
    package let region: String
    package let service: String
    private var signingDay: String = ""
    private var signingKey = SymmetricKey(size: .bits256)

    package init(credentials: AWSCredentials, region: String, service: String = "dynamodb") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The headers this signer signs, in canonical (sorted) order.
    package var signedHeaders: String {
        credentials.sessionToken == nil
            ? "content-type;host;x-amz-date;x-amz-target"
            : "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
    }

    /// The `Authorization` header value for a DynamoDB request. `amzDate` is `yyyyMMdd'T'HHmmss'Z'`.
    package mutating func authorization(
        host: String,
        amzDate: String,
        target: String,
        body: UnsafeRawBufferPointer
    ) -> String {
        let day = String(amzDate.prefix(8))
        if day != signingDay {
            signingKey = Self.deriveKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
            signingDay = day
        }
        var canonical = "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:"
        canonical += host
        canonical += "\nx-amz-date:"
        canonical += amzDate
        if let token = credentials.sessionToken {
            canonical += "\nx-amz-security-token:"
            canonical += token
        }
        canonical += "\nx-amz-target:"
        canonical += target
        canonical += "\n\n"
        canonical += signedHeaders
        canonical += "\n"
        canonical += Self.hex(SHA256.hash(data: body))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let canonicalHash = canonical.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        var stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Self.hex(canonicalHash))"
        let signature = stringToSign.withUTF8 {
            HMAC<SHA256>.authenticationCode(for: UnsafeRawBufferPointer($0), using: signingKey)
        }
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), "
            + "Signature=\(Self.hex(signature))"
    }

    static func deriveKey(secret: String, day: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(secret)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
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
}
