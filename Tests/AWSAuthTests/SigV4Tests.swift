import Testing

@testable import AWSAuth

private let credentials = AWSCredentials(
    accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
private let body = #"{"TableName":"bench","Key":{"pk":{"S":"p000001"},"sk":{"N":"3"}}}"#
private let date = "20261126T102936Z"

/// Vectors computed by botocore's SigV4Auth (what boto3 and the AWS CLI sign with) at 2026-11-26T10:29:36Z.
@Suite struct SigV4SignerTests {
    @Test(arguments: [
        (nil as String?, "6bd1b2873d23bdbb6f343ddcdc723799660538cb2e36b17b590187e70cc1c0d8"),
        ("session-token-value", "2970cba26798b0c9832c074a9dd14e49795f58185bec3ac430394a2077493f1d"),
    ])
    func dynamoDBRequestsMatchBotocore(token: String?, signature: String) {
        var withToken = credentials
        withToken.sessionToken = token
        var signer = SigV4Signer(credentials: withToken, region: "eu-west-1")
        let authorization = Array(body.utf8).withUnsafeBytes {
            signer.authorization(host: "127.0.0.1:8000", amzDate: date, target: "DynamoDB_20120810.GetItem", body: $0)
        }
        let headers =
            token == nil
            ? "content-type;host;x-amz-date;x-amz-target"
            : "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/dynamodb/aws4_request, "
                + "SignedHeaders=\(headers), Signature=\(signature)")
    }

    @Test func anyHeadersInAnyCaseAndOrder() {
        var signer = SigV4Signer(credentials: credentials, region: "eu-west-1")
        let authorization = Array(body.utf8).withUnsafeBytes { bytes in
            signer.authorization(
                method: "POST", path: "/", query: "",
                headers: [
                    ("X-Custom", "  a   b  "), ("X-Amz-Target", "DynamoDB_20120810.GetItem"),
                    ("Content-Type", "application/x-amz-json-1.0"), ("Host", "dynamodb.eu-west-1.amazonaws.com"),
                    ("X-Amz-Date", date), ("X-Amz-Security-Token", "tok"),
                ],
                payloadHash: SigV4.payloadHash(bytes), amzDate: date)
        }
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/dynamodb/aws4_request, "
                + "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target;x-custom, "
                + "Signature=1c4c9c02dc0002b8ce1bf6706b62508ffb417f31e7810f40c65adfc34c2b7a47")
    }

    @Test func pathsAndQueriesAreCanonicalised() {
        var signer = SigV4Signer(credentials: credentials, region: "eu-west-1", service: "execute-api")
        let authorization = signer.authorization(
            method: "GET", path: "/a%20b/c~d", query: "b=2&a=1&a=0&x=%2F",
            headers: [("host", "example.com"), ("x-amz-date", date)],
            payloadHash: [UInt8]().withUnsafeBytes { SigV4.payloadHash($0) }, amzDate: date)
        #expect(authorization.hasSuffix("Signature=99238f83a1d90aa9163f842fd35e2dfb5ecfa5df9adec7b21a44e76b40ad0b20"))
    }

    @Test func datesRoundTripInUTC() {
        #expect(SigV4.amzDate(unixSeconds: 0) == "19700101T000000Z")
        #expect(SigV4.amzDate(unixSeconds: 1_795_688_976) == date)
        #expect(SigV4.unixSeconds(amzDate: date) == 1_795_688_976)
        for bad in ["20261126T102936", "2026-11-26T10:29:36Z", "20261326T102936Z", "2026112xT102936Z"] {
            #expect(SigV4.unixSeconds(amzDate: bad) == nil)
        }
        #expect(CalendarTime.unixSeconds(iso8601: "2026-11-26T10:29:36Z") == 1_795_688_976)
        #expect(CalendarTime.unixSeconds(iso8601: "2026-11-26T10:29:36.5Z") == 1_795_688_976.5)
        #expect(CalendarTime.unixSeconds(iso8601: "2026-11-26T10:29:36+00:00") == 1_795_688_976)
        #expect(CalendarTime.unixSeconds(iso8601: "2026-11-26T10:29:36+02:00") == nil)
    }

    @Test func headerValuesAreTrimmedAndSpacesCollapsed() {
        #expect(SigV4.canonicalHeaderValue("  a   b \t c  ") == "a b c")
        #expect(SigV4.canonicalHeaderValue("") == "")
        for (raw, canonical) in [
            ("a b", "a b"), ("a  b", "a b"), (" a", "a"), ("a ", "a"), ("a\tb", "a b"), ("ab", "ab"),
        ] {
            #expect(SigV4.canonicalHeaderValue(raw) == canonical, "\(raw)")
        }
        #expect(SigV4.canonicalURI("/") == "/" && SigV4.canonicalURI("/a b") == "/a%20b")
        #expect(SigV4.hex([0x00, 0xAB, 0xFF]) == "00abff")
    }

    @Test func credentialsNeverPrintTheirSecret() {
        let temporary = AWSCredentials(accessKeyID: "ASIAX", secretAccessKey: "s3cr3t", sessionToken: "t0k3n")
        #expect(!"\(temporary)".contains("s3cr3t") && !"\(temporary)".contains("t0k3n"))
        #expect("\(temporary)".contains("ASIAX"))
    }
}

@Suite struct SigV4VerifierTests {
    private let verifier = SigV4Verifier()
    private let now = 1_795_688_976

    /// The botocore-signed DynamoDB request of the vectors above, as a server receives it.
    private func headers(
        signature: String = "6bd1b2873d23bdbb6f343ddcdc723799660538cb2e36b17b590187e70cc1c0d8",
        date: String = date,
        extra: [(name: String, value: String)] = []
    ) -> [(name: String, value: String)] {
        [
            ("Host", "127.0.0.1:8000"), ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", "DynamoDB_20120810.GetItem"), ("X-Amz-Date", date), ("User-Agent", "Boto3/1.43"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\(date.prefix(8))/eu-west-1/dynamodb/aws4_request, "
                    + "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=\(signature)"
            ),
        ] + extra
    }

    @discardableResult
    private func verify(
        _ headers: [(name: String, value: String)], body: String = body, now: Int? = nil,
        secret: String? = credentials.secretAccessKey
    ) throws -> SigV4Authorization {
        let bytes = Array(body.utf8)
        return try bytes.withUnsafeBytes { buffer in
            try verifier.verify(
                method: "POST", uri: "/", headers: headers, body: buffer, now: now ?? self.now,
                secret: { $0 == "AKIDEXAMPLE" ? secret : nil })
        }
    }

    @Test func acceptsWhatBotocoreSigned() throws {
        let authorization = try verify(headers())
        #expect(authorization.accessKeyID == "AKIDEXAMPLE" && authorization.region == "eu-west-1")
        // Within the allowed skew on either side.
        _ = try verify(headers(), now: now + 299)
        _ = try verify(headers(), now: now - 299)
    }

    @Test func refusesABodyChangedAfterSigning() {
        #expect(throws: SigV4Failure.mismatch) {
            try verify(headers(), body: body.replacingOccurrences(of: "3", with: "4"))
        }
    }

    @Test func refusesAWrongSecretAndAnUnknownKey() {
        #expect(throws: SigV4Failure.mismatch) { try verify(headers(), secret: "not-the-secret") }
        #expect(throws: SigV4Failure.unknownAccessKey) { try verify(headers(), secret: nil) }
    }

    @Test func refusesASignedHeaderChangedOnTheWay() {
        var changed = headers()
        changed[2] = ("X-Amz-Target", "DynamoDB_20120810.DeleteItem")
        #expect(throws: SigV4Failure.mismatch) { try verify(changed) }
        var missing = headers()
        missing.remove(at: 1)
        #expect(throws: SigV4Failure.mismatch) { try verify(missing) }
    }

    @Test func refusesDatesMoreThanFiveMinutesOff() {
        #expect(
            throws: SigV4Failure.expired(
                requestDate: date, earliest: "20261126T102937Z", now: "20261126T103437Z")
        ) { try verify(headers(), now: now + 301) }
        #expect(
            throws: SigV4Failure.notYetCurrent(
                requestDate: date, latest: "20261126T102835Z", now: "20261126T102335Z")
        ) { try verify(headers(), now: now - 361) }
    }

    @Test func refusesMissingOrIncompleteAuthorization() {
        #expect(throws: SigV4Failure.missing) { try verify(headers().filter { $0.name != "Authorization" }) }
        var incomplete = headers().filter { $0.name != "Authorization" }
        incomplete.append(
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/dynamodb/aws4_request"))
        #expect(throws: SigV4Failure.self) { try verify(incomplete) }
        var noDate = headers().filter { $0.name != "X-Amz-Date" }
        #expect(throws: SigV4Failure.self) { try verify(noDate) }
        noDate = headers().filter { $0.name != "Authorization" } + [("authorization", "Basic dXNlcjpwYXNz")]
        #expect(throws: SigV4Failure.self) { try verify(noDate) }
    }

    @Test func refusesSessionTokensAndOtherServices() {
        #expect(throws: SigV4Failure.sessionTokenNotAccepted) {
            try verify(headers(extra: [("X-Amz-Security-Token", "tok")]))
        }
        var s3 = headers()
        s3[5].value = s3[5].value.replacingOccurrences(of: "/dynamodb/", with: "/s3/")
        #expect(throws: SigV4Failure.badScope("Credential should be scoped to correct service: 'dynamodb'. ")) {
            try verify(s3)
        }
        var otherDay = headers()
        otherDay[5].value = otherDay[5].value.replacingOccurrences(of: "/20261126/", with: "/20261125/")
        #expect(throws: SigV4Failure.self) { try verify(otherDay) }
    }

    @Test func refusesSignedHeaderListsThatCouldBlowUpTheCanonicalRequest() {
        func withSigned(_ list: String, region: String = "eu-west-1") -> [(name: String, value: String)] {
            var changed = headers()
            changed[5].value =
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/\(region)/dynamodb/aws4_request, "
                + "SignedHeaders=\(list), Signature=00"
            return changed
        }
        let many = (0..<65).map { "x-\($0 + 1000)" }.sorted().joined(separator: ";")
        #expect(throws: SigV4Failure.incomplete("SignedHeaders may name at most 64 headers.")) {
            try verify(withSigned("host;" + many))
        }
        for list in ["host;content-type", "content-type;host;host"] {
            #expect(
                throws: SigV4Failure.incomplete(
                    "SignedHeaders must list lower-case header names in sorted order, each once.")
            ) { try verify(withSigned(list)) }
        }
        #expect(throws: SigV4Failure.badScope("Credential should be scoped to a valid region. ")) {
            try verify(
                withSigned("content-type;host;x-amz-date;x-amz-target", region: String(repeating: "r", count: 40)))
        }
        // Many repeated headers are read in one pass, not once per signed name.
        let flood = headers() + Array(repeating: (name: "x-filler", value: ""), count: 20_000)
        #expect(throws: Never.self) { try verify(flood) }
    }

    @Test func theOperationMustBeSignedWhenItIsSent() {
        var unsigned = headers()
        unsigned[5].value =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/dynamodb/aws4_request, "
            + "SignedHeaders=content-type;host;x-amz-date, Signature=00"
        #expect(throws: SigV4Failure.incomplete("'X-Amz-Target' must be a signed header.")) { try verify(unsigned) }
    }

    @Test func comparesInConstantTimeButCorrectly() {
        #expect(SigV4Verifier.constantTimeEqual("abc", "abc"))
        #expect(!SigV4Verifier.constantTimeEqual("abc", "abd"))
        #expect(!SigV4Verifier.constantTimeEqual("abc", "abcd"))
    }
}
