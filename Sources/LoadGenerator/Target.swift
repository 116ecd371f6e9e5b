import AWSAuth
import NIOCore
import Upstream

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One endpoint under test, given as `name=http[s]://host:port`.
package struct BenchTarget: Sendable, Equatable {
    package var name: String
    package var url: String
    package var host: String
    package var port: Int
    /// TLS for an `https://` target; nil for plain HTTP.
    package var tls: UpstreamTLS?

    package init(name: String, host: String, port: Int, tls: UpstreamTLS? = nil) {
        self.name = name
        self.host = host
        self.port = port
        self.tls = tls
        url = UpstreamEndpoint(isTLS: tls != nil, host: host, port: port).url
    }

    /// Parses `name=http[s]://host[:port][/]` (the storage-server URL syntax of `serve --upstream`); a bare URL
    /// is named after its host and port. `caFile` adds a private CA to trust for `https://` targets.
    package init(parsing spec: String, caFile: String? = nil) throws(BenchError) {
        var name = ""
        var url = Substring(spec)
        if let equals = spec.firstIndex(of: "="), !spec[..<equals].contains("/") {
            name = String(spec[..<equals])
            url = spec[spec.index(after: equals)...]
        }
        let endpoint: UpstreamEndpoint
        let tls: UpstreamTLS?
        do {
            endpoint = try UpstreamEndpoint(parsing: String(url))
            tls = endpoint.isTLS ? try UpstreamTLS(serverHostname: endpoint.host, caFile: caFile) : nil
        } catch {
            throw .invalidOption("target \(spec): \(error)")
        }
        self.init(name: name, host: endpoint.host, port: endpoint.port, tls: tls)
        if name.isEmpty {
            self.name = endpoint.authority.contains(":") ? endpoint.authority : "\(endpoint.authority):\(port)"
        }
    }

    /// The `Host` header (and the signed `host`): the port is included unless it is the default, as the SDKs do.
    var hostHeader: String {
        UpstreamEndpoint(isTLS: tls != nil, host: host, port: port).authority
    }

    package static func == (a: BenchTarget, b: BenchTarget) -> Bool {
        a.name == b.name && a.url == b.url
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
            amzDate = SigV4.amzDate(unixSeconds: now)
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
