import NIOConcurrencyHelpers
import Testing

@testable import AWSAuth

/// Answers credential requests from a table, and remembers them: an in-memory stand-in for STS, the container
/// agent and the instance metadata service (the e2e tests use real HTTP servers).
final class ScriptedHTTP: CredentialsHTTPClient {
    let answers: @Sendable (CredentialsHTTPRequest) -> CredentialsHTTPResponse?
    let seen = NIOLockedValueBox<[CredentialsHTTPRequest]>([])

    init(_ answers: @escaping @Sendable (CredentialsHTTPRequest) -> CredentialsHTTPResponse?) {
        self.answers = answers
    }

    struct Unreachable: Error {}

    func send(_ request: CredentialsHTTPRequest) async throws -> CredentialsHTTPResponse {
        seen.withLockedValue { $0.append(request) }
        guard let answer = answers(request) else { throw Unreachable() }
        return answer
    }

    var urls: [String] { seen.withLockedValue { $0.map(\.url) } }
}

private func files(_ table: [String: String]) -> @Sendable (String) -> String? {
    { table[$0] }
}

private let unreachable = ScriptedHTTP { _ in nil }

@Suite struct CredentialChainTests {
    private func resolve(
        _ environment: [String: String], files table: [String: String] = [:], http: ScriptedHTTP = unreachable
    ) throws(CredentialError) -> any CredentialProvider {
        try CredentialChain.resolve(
            environment: ["HOME": "/home/u"].merging(environment) { $1 }, region: "eu-west-1", http: http,
            readFile: files(table))
    }

    @Test func environmentComesFirst() async throws {
        let provider = try resolve(
            [
                "AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t",
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
            ],
            files: ["/home/u/.aws/credentials": "[default]\naws_access_key_id=AKFILE\naws_secret_access_key=x\n"])
        #expect(provider.source == "environment")
        let credentials = try await provider.fetch()
        #expect(credentials.accessKeyID == "AKENV" && credentials.sessionToken == "t")
    }

    @Test func aHalfSetEnvironmentIsAnError() {
        #expect(throws: CredentialError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")) {
            try resolve(["AWS_ACCESS_KEY_ID": "AKENV"])
        }
    }

    @Test func sharedFilesThenTheConfigFileWithTheProfileNamed() async throws {
        let table = [
            "/home/u/.aws/credentials": "[default]\naws_access_key_id=AKDEFAULT\naws_secret_access_key=x\n",
            "/etc/aws-config": "[profile prod]\naws_access_key_id = AKPROD\naws_secret_access_key = y\n",
        ]
        let byDefault = try resolve([:], files: table)
        #expect(byDefault.source == "profile default")
        #expect(try await byDefault.fetch().accessKeyID == "AKDEFAULT")
        let prod = try resolve(["AWS_PROFILE": "prod", "AWS_CONFIG_FILE": "/etc/aws-config"], files: table)
        #expect(try await prod.fetch().accessKeyID == "AKPROD")
        #expect(throws: CredentialError.self) { try resolve(["AWS_PROFILE": "missing"], files: table) }
        #expect(throws: CredentialError.self) {
            try resolve(
                ["AWS_PROFILE": "role"],
                files: ["/home/u/.aws/config": "[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = x\n"]
            )
        }
    }

    @Test func webIdentityAsksSTSWithTheTokenFile() async throws {
        let sts = ScriptedHTTP { request in
            let form = String(decoding: request.body, as: UTF8.self)
            guard request.method == "POST", form.contains("Action=AssumeRoleWithWebIdentity"),
                form.contains("WebIdentityToken=jwt-1"), form.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr")
            else {
                return CredentialsHTTPResponse(
                    status: 400,
                    body: Array(
                        "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>no</Message></Error></ErrorResponse>"
                            .utf8))
            }
            return CredentialsHTTPResponse(
                status: 200,
                body: Array(
                    """
                    <AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>
                    <AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>sec&amp;ret</SecretAccessKey>
                    <SessionToken>tok</SessionToken><Expiration>2026-12-01T10:00:00Z</Expiration>
                    </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>
                    """.utf8))
        }
        let provider = try resolve(
            ["AWS_WEB_IDENTITY_TOKEN_FILE": "/var/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"],
            files: ["/var/token": "jwt-1\n"], http: sts)
        let credentials = try await provider.fetch()
        #expect(credentials.accessKeyID == "ASIAWEB" && credentials.secretAccessKey == "sec&ret")
        #expect(credentials.sessionToken == "tok" && credentials.expiration == 1_796_119_200)
        #expect(sts.urls == ["https://sts.eu-west-1.amazonaws.com"])
        let overridden = try resolve(
            [
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
                "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9999",
            ],
            files: ["/var/token": "jwt-2"], http: sts)
        await #expect(throws: CredentialError.self) { try await overridden.fetch() }
        #expect(sts.urls.last == "http://127.0.0.1:9999")
    }

    @Test func containerEndpointWithItsTokenFile() async throws {
        let agent = ScriptedHTTP { request in
            guard request.headers.contains(where: { $0.name == "Authorization" && $0.value == "pod-token" }) else {
                return CredentialsHTTPResponse(status: 401, body: Array(#"{"Message":"unauthorized"}"#.utf8))
            }
            return CredentialsHTTPResponse(
                status: 200,
                body: Array(
                    #"{"AccessKeyId":"ASIACON","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-01T10:00:00Z"}"#
                        .utf8))
        }
        let provider = try resolve(
            [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:8090/creds",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/var/pod-token",
            ],
            files: ["/var/pod-token": "pod-token\n"], http: agent)
        #expect(try await provider.fetch().accessKeyID == "ASIACON")
        let relative = try resolve(
            ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "bad"],
            http: agent)
        await #expect(throws: CredentialError.self) { try await relative.fetch() }
        #expect(agent.urls.last == "http://169.254.170.2/v2/creds")
        // A plain-HTTP full URI elsewhere would send the token in the clear.
        for elsewhere in ["http://example.com/creds", "http://127.attacker.example/creds", "http://10.0.0.1/c"] {
            #expect(throws: CredentialError.self) { try resolve(["AWS_CONTAINER_CREDENTIALS_FULL_URI": elsewhere]) }
        }
        for loopback in ["http://127.0.0.1:80/c", "http://127.1.2.3/c", "http://localhost/c", "http://[::1]:9/c"] {
            _ = try resolve(["AWS_CONTAINER_CREDENTIALS_FULL_URI": loopback])
        }
        _ = try resolve(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "https://example.com/creds"])
    }

    @Test func instanceMetadataLastWithASessionToken() async throws {
        let imds = ScriptedHTTP { request in
            switch (request.method, request.url) {
            case ("PUT", "http://127.0.0.1:1338/latest/api/token"):
                return CredentialsHTTPResponse(status: 200, body: Array("imds-token".utf8))
            case (_, _) where !request.headers.contains(where: { $0.value == "imds-token" }):
                return CredentialsHTTPResponse(status: 401, body: [])
            case ("GET", "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/"):
                return CredentialsHTTPResponse(status: 200, body: Array("my-role\n".utf8))
            case ("GET", "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/my-role"):
                return CredentialsHTTPResponse(
                    status: 200,
                    body: Array(
                        #"{"Code":"Success","AccessKeyId":"ASIAEC2","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-01T10:00:00Z"}"#
                            .utf8))
            default:
                return nil
            }
        }
        let provider = try resolve(["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338/"], http: imds)
        #expect(provider is InstanceMetadataCredentialProvider)
        #expect(try await provider.fetch().accessKeyID == "ASIAEC2")
        #expect(throws: CredentialError.self) { try resolve(["AWS_EC2_METADATA_DISABLED": "true"]) }
    }
}

@Suite struct CredentialsCacheTests {
    /// A provider whose answers the test sets, counting fetches.
    final class Source: CredentialProvider {
        let source = "test"
        let next = NIOLockedValueBox<Result<AWSCredentials, CredentialError>>(.failure(CredentialError("not yet")))
        let fetches = NIOLockedValueBox(0)

        func fetch() async throws(CredentialError) -> AWSCredentials {
            fetches.withLockedValue { $0 += 1 }
            return try next.withLockedValue { $0 }.get()
        }
    }

    final class Clock: Sendable {
        let now = NIOLockedValueBox(1_000_000.0)
        func advance(_ seconds: Double) { now.withLockedValue { $0 += seconds } }
    }

    @Test func refreshesAheadOfExpiryAndKeepsOldCredentialsThroughFailures() async throws {
        let source = Source()
        let clock = Clock()
        let cache = CredentialsCache(provider: source, clock: { clock.now.withLockedValue { $0 } })
        #expect(throws: CredentialError.self) { try cache.usable() }
        #expect(cache.nextRefresh() == 0)  // nothing yet: due at once

        source.next.withLockedValue {
            $0 = .success(AWSCredentials(accessKeyID: "A1", secretAccessKey: "s", expiration: 1_003_600))
        }
        await cache.refresh()
        #expect(try cache.usable().accessKeyID == "A1")
        // An hour's lifetime: refreshed five minutes before it ends.
        #expect(cache.nextRefresh() == 1_003_300)

        clock.advance(3_300)
        source.next.withLockedValue { $0 = .failure(CredentialError("STS is down")) }
        await cache.refresh()
        // Still valid: requests go on with the old credentials; the next try backs off.
        #expect(try cache.usable().accessKeyID == "A1")
        #expect(cache.status.lastError == "STS is down" && cache.status.consecutiveFailures == 1)
        #expect(cache.nextRefresh() == 1_003_301)
        await cache.refresh()
        #expect(cache.nextRefresh() == 1_003_302)
        for _ in 0..<10 { await cache.refresh() }
        #expect(cache.nextRefresh() == 1_003_330)  // capped at 30 s

        clock.advance(400)  // past the expiry
        #expect(throws: CredentialError.self) { try cache.usable() }
        #expect(!cache.status.usable)

        source.next.withLockedValue {
            $0 = .success(AWSCredentials(accessKeyID: "A2", secretAccessKey: "s", expiration: 1_003_700 + 60))
        }
        await cache.refresh()
        #expect(try cache.usable().accessKeyID == "A2" && cache.status.lastError == nil)
        // A one-minute lifetime: refreshed halfway.
        let due = try #require(cache.nextRefresh())
        #expect(abs(due - 1_003_730) < 0.001, "\(due)")
    }

    @Test func credentialsServedExpiredAreAFailureRetriedWithBackOff() async throws {
        let source = Source()
        let clock = Clock()
        let cache = CredentialsCache(provider: source, clock: { clock.now.withLockedValue { $0 } })
        source.next.withLockedValue {
            $0 = .success(AWSCredentials(accessKeyID: "A1", secretAccessKey: "s", expiration: 1_000_600))
        }
        await cache.refresh()
        source.next.withLockedValue {
            $0 = .success(AWSCredentials(accessKeyID: "OLD", secretAccessKey: "s", expiration: 999_970))
        }
        let result = await cache.refresh()
        guard case .failure(let error) = result else {
            Issue.record("expired credentials were accepted")
            return
        }
        #expect(error.message.contains("expired 30 s ago"), "\(error.message)")
        #expect(try cache.usable().accessKeyID == "A1")  // the good ones stay
        #expect(cache.nextRefresh() == 1_000_001)  // not at once
    }

    @Test func longTermKeysAreNeverRefreshed() async {
        let source = Source()
        source.next.withLockedValue { $0 = .success(AWSCredentials(accessKeyID: "A", secretAccessKey: "s")) }
        let cache = CredentialsCache(provider: source, clock: { 0 })
        await cache.refresh()
        #expect(cache.nextRefresh() == nil)
    }

    @Test func aSignerSignsWithWhatTheCacheHoldsNow() async throws {
        let source = Source()
        let clock = Clock()
        let cache = CredentialsCache(provider: source, clock: { clock.now.withLockedValue { $0 } })
        let signer = RequestSigner(credentials: cache, region: "eu-west-1")
        #expect(throws: CredentialError.self) {
            try signer.sign(
                method: "POST", path: "/", query: "", headers: [("host", "h")], payloadHash: "x", unixSeconds: 0)
        }
        source.next.withLockedValue {
            $0 = .success(AWSCredentials(accessKeyID: "A1", secretAccessKey: "s", sessionToken: "t1"))
        }
        await cache.refresh()
        let first = try signer.sign(
            method: "POST", path: "/", query: "", headers: [("host", "h")], payloadHash: "x", unixSeconds: 0)
        #expect(first.map(\.name) == ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"])
        #expect(first[2].value.contains("Credential=A1/19700101/eu-west-1/dynamodb/aws4_request"))
        #expect(first[2].value.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"))
        source.next.withLockedValue { $0 = .success(AWSCredentials(accessKeyID: "A2", secretAccessKey: "s")) }
        await cache.refresh()
        let second = try signer.sign(
            method: "POST", path: "/", query: "", headers: [("host", "h")], payloadHash: "x", unixSeconds: 0)
        #expect(second.map(\.name) == ["X-Amz-Date", "Authorization"] && second[1].value.contains("Credential=A2/"))
    }
}
