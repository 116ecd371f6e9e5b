import NIOCore
import NIOSSL

/// Where the storage server is and how long the proxy waits for it.
package struct UpstreamConfiguration: Sendable {
    /// Host name or address of the storage server.
    package var host: String
    /// TCP port of the storage server.
    package var port: Int
    /// TLS to the storage server (`https://`); nil for plain HTTP.
    package var tls: UpstreamTLS?
    /// How long establishing a connection (and its TLS handshake) may take before the request fails as
    /// unreachable.
    package var connectTimeout: TimeAmount
    /// How long the storage server may take to answer a request that was sent; past it the outcome is unknown.
    package var responseTimeout: TimeAmount
    /// Idle keep-alive connections kept per event loop; the rest are closed when released.
    package var maxIdleConnectionsPerLoop: Int
    /// An idle pooled connection is closed after this long, before a server's own idle timeout races a request.
    package var idleTimeout: TimeAmount
    /// Largest response body accepted from the storage server (DynamoDB answers at most 16 MB of items).
    package var maxResponseBytes: Int

    package init(
        host: String,
        port: Int,
        tls: UpstreamTLS? = nil,
        connectTimeout: TimeAmount = .seconds(2),
        responseTimeout: TimeAmount = .seconds(10),
        maxIdleConnectionsPerLoop: Int = 64,
        idleTimeout: TimeAmount = .seconds(20),
        maxResponseBytes: Int = 64 * 1024 * 1024
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.maxIdleConnectionsPerLoop = maxIdleConnectionsPerLoop
        self.idleTimeout = idleTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// The configuration for an endpoint; `caFile` adds a private CA to the system's for `https://`.
    package init(endpoint: UpstreamEndpoint, caFile: String? = nil) throws(UpstreamError) {
        self.init(
            host: endpoint.host, port: endpoint.port,
            tls: endpoint.isTLS ? try UpstreamTLS(serverHostname: endpoint.host, caFile: caFile) : nil)
    }

    /// The server's endpoint, without a path.
    package var endpoint: UpstreamEndpoint { UpstreamEndpoint(isTLS: tls != nil, host: host, port: port) }

    /// `host[:port]` as a `Host` header names the server (the port left out when it is the scheme's default).
    package var authority: String { endpoint.authority }
}

/// TLS to the storage server: the certificate must chain to the system's trust store (or the added CA file)
/// and name the host; SNI names it too.
package struct UpstreamTLS: Sendable {
    /// The host name the certificate must name and SNI sends; nil for an IP address, which is checked against
    /// the certificate's IP addresses instead.
    package let serverHostname: String?
    package let context: NIOSSLContext

    package init(serverHostname: String, caFile: String?) throws(UpstreamError) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = ["http/1.1"]
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            configuration.additionalTrustRoots = [.file(caFile)]
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            let reason =
                "\(error)".contains("failedToLoadCertificate") ? "it holds no PEM certificate" : "\(error)"
            throw .invalidURL("cannot use the CA file \(caFile ?? "(none)"): \(reason)")
        }
        self.serverHostname = UpstreamEndpoint.isIPAddress(serverHostname) ? nil : serverHostname
    }
}

/// A parsed `http://` or `https://` URL of a server: scheme, host, port, and the path (for credentials
/// endpoints; a storage server's URL has none).
package struct UpstreamEndpoint: Sendable, Equatable {
    package var isTLS: Bool
    package var host: String
    package var port: Int
    /// The path and query after the authority, `/` when there is none.
    package var path: String

    package init(isTLS: Bool, host: String, port: Int, path: String = "/") {
        self.isTLS = isTLS
        self.host = host
        self.port = port
        self.path = path
    }

    /// `host[:port]`, the port left out when it is the scheme's default; IPv6 addresses in brackets.
    package var authority: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? bracketed : "\(bracketed):\(port)"
    }

    /// The URL, without a path.
    package var url: String { (isTLS ? "https://" : "http://") + authority }

    /// Parses `http[s]://host[:port][/path]`. With `allowingPath` false, the URL of a server: nothing but `/`
    /// may follow the authority.
    package init(parsing url: String, allowingPath: Bool = false) throws(UpstreamError) {
        let rest: Substring
        if url.hasPrefix("http://") {
            isTLS = false
            rest = url.dropFirst("http://".count)
        } else if url.hasPrefix("https://") {
            isTLS = true
            rest = url.dropFirst("https://".count)
        } else if url.contains("://") {
            throw .invalidURL("\(url): the scheme must be http:// or https://")
        } else {
            throw .invalidURL("\(url): a URL needs its scheme, e.g. http://\(url) or https://\(url)")
        }
        var authority = rest
        path = "/"
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
            authority = rest[..<slash]
            let tail = rest[slash...]
            if allowingPath {
                path = tail.hasPrefix("/") ? String(tail) : "/" + tail
            } else {
                guard tail.allSatisfy({ $0 == "/" }) else {
                    throw .invalidURL("\(url): a server URL has no path")
                }
            }
        }
        var host = authority
        port = isTLS ? 443 : 80
        if host.hasPrefix("[") {  // [::1]:8000
            guard let close = host.firstIndex(of: "]") else { throw .invalidURL("\(url): unclosed IPv6 bracket") }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.first == ":", let p = Int(after.dropFirst()) else { throw .invalidURL("\(url): bad port") }
                port = p
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]) else { throw .invalidURL("\(url): bad port") }
            port = p
            host = host[..<colon]
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw .invalidURL("\(url): bad host or port") }
        self.host = String(host)
    }

    /// True for an IPv4 or IPv6 address literal.
    package static func isIPAddress(_ host: String) -> Bool {
        if host.contains(":") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in UInt8(part) != nil }
    }
}
