import AWSAuth
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The credential providers' HTTP (STS, the container endpoint, instance metadata), over this module's client:
/// one small client per endpoint, kept for later refreshes.
package final class CredentialsHTTP: CredentialsHTTPClient {
    private let group: any EventLoopGroup
    private let logger: Logger
    private let clients = NIOLockedValueBox([String: UpstreamClient]())

    package init(group: any EventLoopGroup, logger: Logger) {
        self.group = group
        self.logger = logger
    }

    package func send(_ request: CredentialsHTTPRequest) async throws -> CredentialsHTTPResponse {
        let endpoint = try UpstreamEndpoint(parsing: request.url, allowingPath: true)
        let timeout = TimeAmount.milliseconds(Int64(request.timeoutSeconds * 1000))
        let client = try clients.withLockedValue { clients throws(UpstreamError) -> UpstreamClient in
            let key = "\(endpoint.url)|\(timeout.nanoseconds)"
            if let client = clients[key] { return client }
            var configuration = try UpstreamConfiguration(endpoint: endpoint)
            configuration.connectTimeout = timeout
            configuration.responseTimeout = timeout
            configuration.maxIdleConnectionsPerLoop = 1
            configuration.maxResponseBytes = 1 << 20
            let client = UpstreamClient(configuration: configuration, group: group, logger: logger)
            clients[key] = client
            return client
        }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: endpoint.path)
        head.headers.add(name: "host", value: endpoint.authority)
        head.headers.add(name: "accept", value: "*/*")
        for header in request.headers { head.headers.add(name: header.name, value: header.value) }
        let response = try await client.execute(
            UpstreamRequest(head: head, body: ByteBuffer(bytes: request.body)), on: group.next()
        ).get()
        return CredentialsHTTPResponse(
            status: Int(response.head.status.code), body: Array(response.body.readableBytesView))
    }

    /// Closes the kept connections.
    package func shutdown() async {
        for client in clients.withLockedValue({ Array($0.values) }) { await client.shutdown() }
    }
}
