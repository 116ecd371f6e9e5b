import AWSAuth
import Benchmark
import Crypto

// What SigV4 costs the proxy per request: signing a forwarded request with its own credentials
// (--upstream-auth sign, what UpstreamSigning does on every request sent to the storage server) and verifying a
// client's signature (--client-auth sigv4, on every request, hits included). Each benchmark repeats its step
// 1,000 times per iteration. Compiled into the root package's `package` scope (see Package.swift).

let body = Array(
    #"{"TableName":"users","Key":{"pk":{"S":"user#000123"},"sk":{"S":"profile"}},"ConsistentRead":false}"#.utf8)
let now = 1_795_688_976

/// Temporary credentials (a session token of the size STS hands out), fetched before the measured loop as the
/// proxy fetches them before it listens.
let credentials = CredentialsCache(
    provider: StaticCredentialProvider(
        source: "benchmark",
        credentials: AWSCredentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            sessionToken: String(repeating: "t", count: 600))),
    clock: { Double(now) })

/// A GetItem as boto3 sends it, signed by a client.
let clientHeaders: [(name: String, value: String)] = {
    var signer = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDCLIENT", secretAccessKey: "client-secret"), region: "eu-west-1")
    let amzDate = SigV4.amzDate(unixSeconds: now)
    let authorization = body.withUnsafeBytes {
        signer.authorization(host: "proxy:8000", amzDate: amzDate, target: "DynamoDB_20120810.GetItem", body: $0)
    }
    return [
        ("Host", "proxy:8000"), ("Accept-Encoding", "identity"), ("X-Amz-Target", "DynamoDB_20120810.GetItem"),
        ("Content-Type", "application/x-amz-json-1.0"), ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11"),
        ("X-Amz-Date", amzDate), ("Authorization", authorization), ("amz-sdk-invocation-id", "3f1c"),
        ("amz-sdk-request", "attempt=1"), ("Content-Length", "\(body.count)"),
    ]
}()

// Names carry no spaces: package-benchmark writes threshold files with spaces replaced but reads them without.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    // The body's SHA-256, the canonical request, the string to sign and one HMAC with the cached signing key.
    Benchmark("sign-forwarded-getitem-1k") { benchmark async in
        await credentials.refresh()
        let signer = RequestSigner(credentials: credentials, region: "eu-west-1")
        let headers = [
            (name: "host", value: "dynamodb.eu-west-1.amazonaws.com"),
            (name: "x-amz-target", value: "DynamoDB_20120810.GetItem"),
            (name: "content-type", value: "application/x-amz-json-1.0"),
        ]
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 {
                let hash = body.withUnsafeBytes { SigV4.payloadHash($0) }
                blackHole(
                    try! signer.sign(
                        method: "POST", path: "/", query: "", headers: headers, payloadHash: hash, unixSeconds: now))
            }
        }
    }

    Benchmark("verify-client-getitem-1k") { benchmark in
        let verifier = SigV4Verifier()
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 {
                blackHole(
                    try! body.withUnsafeBytes {
                        try verifier.verify(
                            method: "POST", uri: "/", headers: clientHeaders, body: $0, now: now,
                            secret: { $0 == "AKIDCLIENT" ? "client-secret" : nil })
                    })
            }
        }
    }

    // What the head alone is checked for (key, date, scope) before a large body is read.
    Benchmark("precheck-client-getitem-1k") { benchmark in
        let verifier = SigV4Verifier()
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 {
                blackHole(
                    try! verifier.precheck(
                        headers: clientHeaders, now: now, secret: { $0 == "AKIDCLIENT" ? "client-secret" : nil }))
            }
        }
    }

    // The primitives a signature is made of, to tell their cost from the text handling around them.
    Benchmark("sha256-1kb-1k") { benchmark in
        let kilobyte = [UInt8](repeating: 7, count: 1024)
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 { blackHole(SHA256.hash(data: kilobyte)) }
        }
    }

    Benchmark("hmac-sha256-1k") { benchmark in
        let key = SymmetricKey(size: .bits256)
        let text = [UInt8](repeating: 7, count: 120)
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 { blackHole(HMAC<SHA256>.authenticationCode(for: text, using: key)) }
        }
    }
}
