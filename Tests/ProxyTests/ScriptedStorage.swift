import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOFoundationCompat
import NIOHTTP1
import Proxy

/// A storage server whose answers the test releases one by one, in the order it chooses, so that interleavings
/// of fills and writes are exact and repeatable. Runs on an EmbeddedEventLoop: nothing happens between steps.
final class ScriptedStorage: StorageServer, @unchecked Sendable {
    // @unchecked: used only from the test's thread, which also drives the EmbeddedEventLoop.
    struct Pending {
        let target: String
        let body: String
        let promise: EventLoopPromise<StorageResponse>
    }

    private(set) var pending: [Pending] = []
    private(set) var sent: [(target: String, body: String)] = []

    func execute(_ request: StorageRequest, on eventLoop: any EventLoop) -> EventLoopFuture<StorageResponse> {
        let promise = eventLoop.makePromise(of: StorageResponse.self)
        let target = request.head.headers.first(name: "x-amz-target") ?? ""
        let body = String(buffer: request.body)
        pending.append(Pending(target: target, body: body, promise: promise))
        sent.append((target, body))
        return promise.futureResult
    }

    /// Answers the oldest pending request with `status` and a JSON body.
    func answer(status: HTTPResponseStatus = .ok, _ json: String, crc32: String? = nil, encoding: String? = nil) {
        answer(at: 0, status: status, json, crc32: crc32, encoding: encoding)
    }

    /// Answers the pending request at `index` (0 = oldest) with `status` and a JSON body, and `crc32` as its
    /// `x-amz-crc32` when given.
    func answer(
        at index: Int, status: HTTPResponseStatus = .ok, _ json: String, crc32: String? = nil, encoding: String? = nil
    ) {
        let request = pending.remove(at: index)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        headers.add(name: "x-amzn-RequestId", value: "UPSTREAM")
        if let crc32 { headers.add(name: "x-amz-crc32", value: crc32) }
        if let encoding { headers.add(name: "Content-Encoding", value: encoding) }
        request.promise.succeed(
            StorageResponse(
                head: HTTPResponseHead(version: .http1_1, status: status, headers: headers),
                body: ByteBuffer(string: json))
        )
    }

    /// Fails the oldest pending request as a transport failure.
    func fail(_ error: StorageError) {
        pending.removeFirst().promise.fail(error)
    }
}

/// A manual clock in nanoseconds.
final class ManualClock: Sendable {
    private let now = NIOLockedValueBox<UInt64>(1_000)
    func read() -> UInt64 { now.withLockedValue { $0 } }
    func advance(seconds: UInt64) { now.withLockedValue { $0 += seconds * 1_000_000_000 } }
}

/// The proxy over a scripted storage server, with helpers to send DynamoDB calls and read the answers.
struct ProxyFixture {
    let loop = EmbeddedEventLoop()
    let storage = ScriptedStorage()
    let clock = ManualClock()
    let proxy: DynamoProxy

    init(
        configuration: ProxyConfiguration = ProxyConfiguration(shards: 4), authenticator: ClientAuthenticator? = nil,
        streamNamespace: Namespace? = nil
    ) {
        let clock = self.clock
        proxy = DynamoProxy(
            storage: storage,
            configuration: configuration,
            logger: Logger(label: "test"),
            authenticator: authenticator,
            clock: { clock.read() },
            streamNamespace: { streamNamespace }
        )
    }

    static let alice =
        "AWS4-HMAC-SHA256 Credential=ALICE/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
    static let bob =
        "AWS4-HMAC-SHA256 Credential=BOB/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"

    /// Starts a call; the answer is read with `result()` once the storage server (if asked) has answered.
    func call(_ operation: String, _ json: String, as authorization: String = alice) -> Answer {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
        head.headers.add(name: "X-Amz-Target", value: "DynamoDB_20120810.\(operation)")
        head.headers.add(name: "Authorization", value: authorization)
        return send(head, json)
    }

    /// Sends a request with exactly the head given.
    func send(_ head: HTTPRequestHead, _ json: String) -> Answer {
        switch proxy.handle(ProxyRequest(head: head, body: ByteBuffer(string: json)), on: loop) {
        case .immediate(let response): return Answer(response: response)
        case .deferred(let future):
            let answer = Answer(response: nil)
            future.whenSuccess { response in answer.box.withLockedValue { $0 = response } }
            return answer
        }
    }

    /// The invariants of the caches after a test.
    func checkInvariants() -> [String] { proxy.validateCaches() }
}

/// The answer of one call, filled in when it completes.
final class Answer: Sendable {
    let box: NIOLockedValueBox<ProxyResponse?>

    init(response: ProxyResponse?) {
        box = NIOLockedValueBox(response)
    }

    var response: ProxyResponse? { box.withLockedValue { $0 } }
    var isDone: Bool { response != nil }
    var status: String? { response?.headers.first(name: "x-dynamo-cache") }
    var code: UInt? { response?.status.code }
    var body: String { response.map { String(buffer: $0.body) } ?? "<pending>" }

    /// The body parsed, for comparing JSON regardless of member order and spacing.
    var json: NSDictionary? {
        guard let response else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? NSDictionary
    }
}

/// `text` parsed as JSON, for comparisons with `Answer.json`.
func json(_ text: String) -> NSDictionary {
    try! JSONSerialization.jsonObject(with: Data(text.utf8)) as! NSDictionary
}
