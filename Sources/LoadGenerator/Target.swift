import NIOCore
import Upstream

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One endpoint under test, given as `name=http://host:port`.
package struct BenchTarget: Sendable, Equatable {
    package var name: String
    package var url: String
    package var host: String
    package var port: Int

    package init(name: String, host: String, port: Int) {
        self.name = name
        self.host = host
        self.port = port
        url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Parses `name=http://host[:port][/]` (the storage-server URL syntax of `serve --upstream`); a bare URL is
    /// named after its host and port.
    package init(parsing spec: String) throws(BenchError) {
        var name = ""
        var url = Substring(spec)
        if let equals = spec.firstIndex(of: "="), !spec[..<equals].contains("/") {
            name = String(spec[..<equals])
            url = spec[spec.index(after: equals)...]
        }
        let endpoint: (host: String, port: Int)
        do {
            endpoint = try UpstreamConfiguration.parseURL(String(url))
        } catch {
            throw .invalidOption("target \(spec): \(error)")
        }
        self.init(name: name, host: endpoint.host, port: endpoint.port)
        if name.isEmpty { self.name = String(self.url.dropFirst("http://".count)) }
    }

    /// The `Host` header (and the signed `host`): the port is included unless it is the default, as the SDKs do.
    var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? bracketed : "\(bracketed):\(port)"
    }
}

package enum BenchError: Error, Equatable, CustomStringConvertible {
    case invalidOption(String)
    case preparation(String)

    package var description: String {
        switch self {
        case .invalidOption(let detail): detail
        case .preparation(let detail): "preparing the table: \(detail)"
        }
    }
}

/// Composes signed DynamoDB requests for one target.
struct RequestEncoder: Sendable {
    private var signer: SigV4Signer
    private let hostHeader: String
    private var dateSecond = -1
    private var amzDate = ""

    init(target: BenchTarget, signer: SigV4Signer) {
        self.signer = signer
        hostHeader = target.hostHeader
    }

    /// The headers of `request` other than Content-Length, signed, in the order they are sent.
    mutating func headers(for request: BenchRequest) -> [(name: String, value: String)] {
        let now = Int(time(nil))
        if now != dateSecond {
            dateSecond = now
            amzDate = SigV4Signer.amzDate(unixSeconds: now)
        }
        let target = "DynamoDB_20120810." + request.operation
        let authorization = request.body.withUnsafeBytes {
            signer.authorization(host: hostHeader, amzDate: amzDate, target: target, body: $0)
        }
        var headers = [
            ("Host", hostHeader), ("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target),
            ("X-Amz-Date", amzDate),
        ]
        if let token = signer.credentials.sessionToken { headers.append(("X-Amz-Security-Token", token)) }
        headers.append(("Authorization", authorization))
        return headers
    }

    /// The whole request as it goes on the wire.
    mutating func encode(_ request: BenchRequest, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 400 + request.body.count)
        buffer.writeStaticString("POST / HTTP/1.1\r\n")
        for (name, value) in headers(for: request) {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("Content-Length: ")
        buffer.writeString(String(request.body.count))
        buffer.writeStaticString("\r\n\r\n")
        buffer.writeBytes(request.body)
        return buffer
    }
}
