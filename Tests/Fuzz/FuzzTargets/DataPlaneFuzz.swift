import AWSAuth
import DynamoWire
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Proxy

// The data-plane handler and the connection timers are internal to Server. Debug builds compile every module for
// testing, and ops/fuzz.sh passes -enable-testing with -DFUZZING; a plain release build cannot reach them, so
// there this target is left out.
#if DEBUG || FUZZING
    @testable import Server
#endif

/// The data plane fed raw bytes as a client connection: the handlers an accepted connection gets (HTTPListener's
/// bootstrap and `HTTPListener.dataPlane`, in that order, without TLS) in front of a `DynamoProxy` whose storage
/// server answers at once, on an `EmbeddedChannel`. Nothing touches a socket.
///
/// An input that holds `X-Fuzz-Client-Auth:` anywhere goes to a proxy that authenticates clients
/// (`--client-auth sigv4`) instead: one client, key `testing`, limited to some tables and to item writes, with the
/// clock at the date the seeds were signed, so that the seeds' signatures verify and mutations explore the
/// verifier's refusals and the access rules.
///
/// Invariants checked, besides not crashing: what the connection writes is a sequence of whole HTTP responses,
/// each (but 100 Continue) framed by exactly one Content-Length and no Transfer-Encoding, with a body that matches
/// its x-amz-crc32; and the caches pass their own validation after every input.
package enum DataPlaneFuzz {
    /// One proxy for the whole run, flushed before each input so that every input starts from empty caches and a
    /// crash replays from its input alone. Small caches keep memory flat.
    static let proxy = DynamoProxy(storage: EchoStorage(), configuration: configuration, logger: logger)

    static let configuration = ProxyConfiguration(
        itemCacheBytes: 1 << 20, maxItemEntryBytes: 64 << 10, shards: 1, queryCacheBytes: 1 << 20,
        maxQueryEntryBytes: 64 << 10)

    static let logger = Logger(label: "fuzz-dataplane", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The same with client authentication. Signatures carry wall-clock dates: this one is the seeds'
    /// (20240102T030405Z, see Corpus/capture.py).
    static let authenticatingProxy = DynamoProxy(
        storage: EchoStorage(),
        configuration: configuration,
        logger: logger,
        authenticator: ClientAuthenticator(
            clients: ClientCredentials(identities: [
                ClientIdentity(
                    name: "fuzz", accessKeyID: "testing", secretAccessKey: "testing",
                    tables: [TablePattern("users"), TablePattern("ev*")], access: .readwrite)
            ]),
            wallClock: { 1_704_164_645 })
    )

    /// Small, so that refusing a body too large is reachable within -max_len.
    static let maxRequestBytes = 4096

    static let peer = try! SocketAddress(ipAddress: "127.0.0.1", port: 50_000)

    package static func run(_ bytes: UnsafeRawBufferPointer) {
        #if DEBUG || FUZZING
            let proxy = contains(bytes, "X-Fuzz-Client-Auth:") ? authenticatingProxy : proxy
            proxy.flush(table: nil)
            let channel = EmbeddedChannel()
            // The embedded loop's clock stands still, so the timers are armed but never fire.
            let timer = ConnectionTimer(timeouts: ConnectionTimeouts(), timedOut: { _ in })
            let pipeline = channel.pipeline.syncOperations
            try! pipeline.addHandler(RequestStartHandler(timer: timer))
            try! HTTPListener.addDataPlaneHTTP(
                to: pipeline, proxy: proxy, maxRequestBytes: maxRequestBytes, timer: timer)
            try! channel.connect(to: peer).wait()

            // Two reads, split where the last byte says: a request must read alike however it is cut.
            let split = bytes.isEmpty ? 0 : Int(bytes[bytes.count - 1]) * bytes.count / 256
            for part in [bytes[..<split], bytes[split...]] where !part.isEmpty && channel.isActive {
                var buffer = channel.allocator.buffer(capacity: part.count)
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: part))
                // An error that reaches the pipeline's end only ends the connection, as it would on a socket.
                _ = try? channel.writeInbound(buffer)
                channel.embeddedEventLoop.run()
            }

            var output = channel.allocator.buffer(capacity: 1024)
            while case .some(.byteBuffer(var part)) = try? channel.readOutbound(as: IOData.self) {
                output.writeBuffer(&part)
            }
            _ = try? channel.finish(acceptAlreadyClosed: true)
            checkResponses(output, mayAnswerHEAD: contains(bytes, "HEAD"))
            let problems = proxy.validateCaches()
            invariant(problems.isEmpty, "cache validation: \(problems)")
        #else
            fatalError("the dataplane target needs Server compiled for testing: build in debug, or as ops/fuzz.sh does")
        #endif
    }

    /// Reads `output` as HTTP/1 responses back to back. The answer to a HEAD request has a Content-Length and no
    /// body: when the input may hold one, a response followed at once by the next (or by the end) is taken as one.
    private static func checkResponses(_ output: ByteBuffer, mayAnswerHEAD: Bool) {
        output.withUnsafeReadableBytes { bytes in
            var start = 0
            while start < bytes.count {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
                invariant(rest.starts(with: "HTTP/1.".utf8), "a response does not start with HTTP/1.")
                guard let headEnd = find([13, 10, 13, 10], in: rest) else {
                    invariant(false, "a response head does not end")
                    return
                }
                let head = String(decoding: rest[..<headEnd], as: UTF8.self)
                let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
                let status = lines[0].split(separator: " ").dropFirst().first.flatMap { Int($0) }
                guard let status else {
                    invariant(false, "a status line without a status: \(lines[0])")
                    return
                }
                var headers: [(name: String, value: String)] = []
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else {
                        invariant(false, "a header line without a colon: \(line)")
                        return
                    }
                    let value = line[line.index(after: colon)...].drop { $0 == " " }
                    headers.append((line[..<colon].lowercased(), String(value)))
                }
                start += headEnd + 4
                if (100..<200).contains(status) { continue }
                let lengths = headers.filter { $0.name == "content-length" }
                invariant(lengths.count == 1, "a response with \(lengths.count) Content-Length headers")
                invariant(!headers.contains { $0.name == "transfer-encoding" }, "a response with Transfer-Encoding")
                if mayAnswerHEAD, start == bytes.count || bytes[start...].starts(with: "HTTP/1.".utf8) { continue }
                guard let length = Int(lengths[0].value), length >= 0, length <= bytes.count - start else {
                    invariant(false, "a Content-Length past the end of what was written: \(lengths[0].value)")
                    return
                }
                let body = UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])
                for checksum in headers where checksum.name == "x-amz-crc32" {
                    invariant(UInt32(checksum.value) == CRC32.checksum(body), "a body that does not match x-amz-crc32")
                }
                start += length
            }
        }
    }

    private static func contains(_ bytes: UnsafeRawBufferPointer, _ text: String) -> Bool {
        find(Array(text.utf8), in: bytes) != nil
    }

    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for index in 0...(bytes.count - needle.count) where bytes[index] == needle[0] {
            if bytes[index..<index + needle.count].elementsEqual(needle) { return index }
        }
        return nil
    }
}

/// A storage server that answers at once: a GetItem with its key as the item (so that fills, hits and projections
/// of stored items happen), an UpdateItem that asks for attributes with its key as them, anything else `{}`.
struct EchoStorage: StorageServer {
    func execute(_ request: StorageRequest, on eventLoop: any EventLoop) -> EventLoopFuture<StorageResponse> {
        let body = Self.answer(to: request)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        headers.add(name: "x-amzn-RequestId", value: "FUZZ")
        headers.add(name: "x-amz-crc32", value: String(CRC32.checksum(body)))
        return eventLoop.makeSucceededFuture(
            StorageResponse(head: HTTPResponseHead(version: .http1_1, status: .ok, headers: headers), body: body))
    }

    private static func answer(to request: StorageRequest) -> ByteBuffer {
        let wrapper: String
        switch APITarget(xAmzTarget: request.head.headers.first(name: "x-amz-target")) {
        case .dynamoDB(.getItem): wrapper = "Item"
        case .dynamoDB(.updateItem): wrapper = "Attributes"
        default: return FuzzInput.buffer("{}")
        }
        guard let object = try? JSONObject(parsing: request.body), let key = try? object.member("Key"),
            key.kind == .object
        else { return FuzzInput.buffer("{}") }
        var body = FuzzInput.buffer(#"{""# + wrapper + #"":"#)
        body.writeImmutableBuffer(
            request.body.getSlice(at: request.body.readerIndex + key.range.lowerBound, length: key.range.count)!)
        body.writeStaticString("}")
        return body
    }
}
