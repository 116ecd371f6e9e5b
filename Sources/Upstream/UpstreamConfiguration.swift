import NIOCore

/// Where the storage server is and how long the proxy waits for it.
package struct UpstreamConfiguration: Sendable {
    /// Host name or address of the storage server.
    package var host: String
    /// TCP port of the storage server.
    package var port: Int
    /// How long establishing a TCP connection may take before the request fails as unreachable.
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
        connectTimeout: TimeAmount = .seconds(2),
        responseTimeout: TimeAmount = .seconds(10),
        maxIdleConnectionsPerLoop: Int = 64,
        idleTimeout: TimeAmount = .seconds(20),
        maxResponseBytes: Int = 64 * 1024 * 1024
    ) {
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.maxIdleConnectionsPerLoop = maxIdleConnectionsPerLoop
        self.idleTimeout = idleTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// Parses `http://host:port` (port defaults to 80). TLS to the storage server is on the roadmap, not here yet.
    package static func parseURL(_ url: String) throws(UpstreamError) -> (host: String, port: Int) {
        guard url.hasPrefix("http://") else {
            throw .invalidURL("\(url): only http:// upstream URLs are supported (TLS is not implemented yet)")
        }
        var rest = url.dropFirst("http://".count)
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...].allSatisfy({ $0 == "/" }) else {
                throw .invalidURL("\(url): an upstream URL has no path")
            }
            rest = rest[..<slash]
        }
        var host = Substring(rest)
        var port = 80
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
        return (String(host), port)
    }
}
