import DynamoWire
import Logging
import NIOCore
import NIOHTTP1
import Upstream

/// The proxy's decisions for one request: what is refused, what is forwarded, and how failures of the storage
/// server are reported. It performs no I/O itself; it talks to the storage server through ``StorageServer``.
///
/// Requests that are not DynamoDB (other services or paths a local storage server answers on the same port) and
/// the DynamoDB Streams API pass through untouched. DynamoDB requests are checked to be a JSON object first, as
/// DynamoDB would, because every later decision (caching, invalidation) reads their body.
package final class DynamoProxy: Sendable {
    private let storage: any StorageServer
    private let logger: Logger

    package init(storage: any StorageServer, logger: Logger) {
        self.storage = storage
        self.logger = logger
    }

    /// Decides what to do with `request`, arriving on `eventLoop`.
    package func handle(_ request: ProxyRequest, on eventLoop: any EventLoop) -> ProxyOutcome {
        let target = APITarget(xAmzTarget: request.head.headers.first(name: "x-amz-target"))
        if case .dynamoDB = target {
            do throws(WireError) {
                try Self.validateObject(request.body)
            } catch {
                return .immediate(errorResponse(DynamoError(error)))
            }
        }
        return .deferred(forward(request, on: eventLoop))
    }

    private static func validateObject(_ body: ByteBuffer) throws(WireError) {
        guard body.readableBytes <= JSONReader.maximumBodySize else { throw .bodyTooLarge(size: body.readableBytes) }
        let kind = try body.withUnsafeReadableBytes { bytes throws(WireError) in
            var members: [JSONMember] = []
            return try JSONReader.validate(bytes, topLevelMembers: &members).kind
        }
        guard kind == .object else { throw .notAnObject }
    }

    /// Sends the request as it is and returns the storage server's answer as it is, but for hop-by-hop headers.
    private func forward(_ request: ProxyRequest, on eventLoop: any EventLoop) -> EventLoopFuture<ProxyResponse> {
        var head = request.head
        HopByHopHeaders.remove(from: &head.headers)
        return storage.execute(UpstreamRequest(head: head, body: request.body), on: eventLoop).map { response in
            var headers = response.head.headers
            HopByHopHeaders.remove(from: &headers)
            return ProxyResponse(status: response.head.status, headers: headers, body: response.body)
        }.recover { error in
            self.internalFailure(error)
        }
    }

    /// The answer for a request that failed in the proxy or on the way to the storage server. An unreachable
    /// server (nothing sent) is ServiceUnavailable; a lost or late answer is InternalServerError, both retryable.
    package func internalFailure(_ error: any Error) -> ProxyResponse {
        guard let error = error as? UpstreamError else {
            logger.error("request failed", metadata: ["error": "\(error)"])
            return errorResponse(DynamoError(.internalServerError, message: "The proxy failed to process the request."))
        }
        logger.warning("storage server request failed", metadata: ["error": "\(error)"])
        switch error {
        case .connectFailed, .shutdown, .invalidURL:
            return errorResponse(
                DynamoError(
                    .serviceUnavailable,
                    message: "The storage server is unreachable; the request was not sent: \(error)"))
        case .responseTimeout:
            return errorResponse(
                DynamoError(
                    .internalServerError,
                    message: "The storage server did not answer in time; the request may or may not have been applied.")
            )
        case .connectionLost, .invalidResponse:
            return errorResponse(
                DynamoError(
                    .internalServerError,
                    message:
                        "The storage server's answer was lost; the request may or may not have been applied: \(error)"))
        }
    }

    /// The answer for a request body over the limit, refused before it is read.
    package func requestTooLarge(size: Int) -> ProxyResponse {
        errorResponse(DynamoError(.bodyTooLarge(size: size)))
    }

    /// The answer for bytes that are not HTTP/1.1.
    package func malformedHTTP(_ detail: String) -> ProxyResponse {
        errorResponse(DynamoError(.serialization, message: "Malformed HTTP request: \(detail)"))
    }

    /// A DynamoDB-style error composed by the proxy, with the headers DynamoDB sends and a correct checksum.
    func errorResponse(_ error: DynamoError) -> ProxyResponse {
        let body = error.body()
        var headers = HTTPHeaders()
        headers.reserveCapacity(4)
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        headers.add(name: "x-amzn-RequestId", value: RequestID.make())
        headers.add(name: "x-amz-crc32", value: String(CRC32.checksum(body)))
        return ProxyResponse(status: HTTPResponseStatus(statusCode: error.httpStatus), headers: headers, body: body)
    }
}

/// Request ids in DynamoDB's shape (52 upper-case letters and digits) for answers the proxy composes.
enum RequestID {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(unsafeUninitializedCapacity: 52) { buffer in
            for i in 0..<52 { buffer[i] = alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] }
            return 52
        }
    }
}
