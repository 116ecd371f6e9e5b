import NIOCore

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
        url = "http://\(host):\(port)"
    }

    /// Parses `name=http://host[:port][/]`; a bare URL is named after its host and port.
    package init(parsing spec: String) throws(BenchError) {
        let name: String
        var rest: Substring
        if let equals = spec.firstIndex(of: "="), !spec[..<equals].contains("/") {
            name = String(spec[..<equals])
            rest = spec[spec.index(after: equals)...]
        } else {
            name = ""
            rest = Substring(spec)
        }
        guard rest.hasPrefix("http://") else {
            throw .invalidOption("target \(spec): only http:// URLs are supported (TLS is on the roadmap)")
        }
        rest = rest.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/") else {
            throw .invalidOption("target \(spec): expected http://host[:port], without a path")
        }
        var host = String(rest)
        var port = 80
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let parsed = Int(rest[rest.index(after: colon)...]), (1...65535).contains(parsed) else {
                throw .invalidOption("target \(spec): invalid port")
            }
            host = String(rest[..<colon])
            port = parsed
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(name: name.isEmpty ? "\(host):\(port)" : name, host: host, port: port)
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

    mutating func encode(_ request: BenchRequest, allocator: ByteBufferAllocator) -> ByteBuffer {
        let now = Int(time(nil))
        if now != dateSecond {
            dateSecond = now
            amzDate = SigV4Signer.amzDate(unixSeconds: now)
        }
        let target = "DynamoDB_20120810." + request.operation
        let authorization = request.body.withUnsafeBytes {
            signer.authorization(host: hostHeader, amzDate: amzDate, target: target, body: $0)
        }
        var buffer = allocator.buffer(capacity: 400 + request.body.count)
        buffer.writeStaticString("POST / HTTP/1.1\r\nHost: ")
        buffer.writeString(hostHeader)
        buffer.writeStaticString("\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: ")
        buffer.writeString(target)
        buffer.writeStaticString("\r\nX-Amz-Date: ")
        buffer.writeString(amzDate)
        if let token = signer.credentials.sessionToken {
            buffer.writeStaticString("\r\nX-Amz-Security-Token: ")
            buffer.writeString(token)
        }
        buffer.writeStaticString("\r\nAuthorization: ")
        buffer.writeString(authorization)
        buffer.writeStaticString("\r\nContent-Length: ")
        buffer.writeString(String(request.body.count))
        buffer.writeStaticString("\r\n\r\n")
        buffer.writeBytes(request.body)
        return buffer
    }
}
