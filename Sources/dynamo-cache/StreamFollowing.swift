import DynamoWire
import Foundation
import NIOCore
import NIOHTTP1
import Proxy
import StreamFollower
import Upstream

/// The follower's calls over the Upstream clients, always signed with the proxy's own credentials (whatever
/// `--upstream-auth` says: a follower has no client whose signature it could forward): DescribeTable to the
/// storage server, the Streams API to its endpoint.
struct UpstreamStreamsAPI: StreamsAPI {
    let main: UpstreamClient
    let streams: UpstreamClient
    let eventLoops: any EventLoopGroup

    func send(_ operation: StreamsOperation, body: ByteBuffer) async throws(StreamsCallError) -> StreamsAnswer {
        var headers = HTTPHeaders()
        headers.add(name: "X-Amz-Target", value: operation.rawValue)
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        let request = UpstreamRequest(
            head: HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: headers), body: body,
            retryOnStaleConnection: true)  // every call the follower makes only reads
        let client = operation == .describeTable ? main : streams
        do {
            let response = try await client.execute(request, on: eventLoops.next()).get()
            return StreamsAnswer(status: Int(response.head.status.code), body: response.body)
        } catch let error as UpstreamError {
            if case .noCredentials(let reason) = error {
                throw StreamsCallError(.noCredentials, description: "the stream follower cannot sign: \(reason)")
            }
            throw StreamsCallError(.transport, description: error.description)
        } catch {
            throw StreamsCallError(.transport, description: "\(error)")
        }
    }
}

/// Hands what the followers learn to the proxy's caches.
struct ProxyStreamDelegate: StreamFollowerDelegate {
    let proxy: DynamoProxy

    func notFollowed(_ table: String) { proxy.streamNotFollowed(table) }

    func missing(_ table: String) { proxy.streamTableMissing(table) }

    func positioned(_ table: String, keyAttributes: [String], viewType: StreamViewType, at: UInt64) {
        proxy.streamPositioned(table, keyAttributes: keyAttributes, viewType: viewType, at: at)
    }

    func apply(_ records: [StreamRecord], table: String, viewType: StreamViewType) -> Int {
        proxy.applyStreamRecords(records, table: table, viewType: viewType, wallNow: Date().timeIntervalSince1970)
    }

    func current(_ table: String, asOf: UInt64) { proxy.streamCurrent(table, asOf: asOf) }

    func lost(_ table: String) { proxy.streamLost(table) }
}
