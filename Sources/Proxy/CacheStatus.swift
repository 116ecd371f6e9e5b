import NIOHTTP1

/// What the caches did for a request, sent back in the `x-dynamo-cache` header of every DynamoDB response, for
/// debugging and for the bench tool's hit ratio.
package enum CacheStatus: String, Sendable {
    /// Answered from memory.
    case hit
    /// A cacheable read that went to the storage server (including one that waited for another's fetch).
    case miss
    /// BatchGetItem answered partly from memory.
    case partial
    /// Not cacheable (strongly consistent, control plane, not DynamoDB): forwarded as it is.
    case bypass
    /// A write, forwarded; the caches were updated after the storage server answered.
    case write
    /// Refused by the proxy itself (malformed, unauthenticated, too large): nothing reached the storage server.
    case rejected

    package static let headerName = "x-dynamo-cache"
}

extension ProxyResponse {
    /// The response with its ``CacheStatus`` header.
    func marked(_ status: CacheStatus) -> ProxyResponse {
        var response = self
        response.headers.replaceOrAdd(name: CacheStatus.headerName, value: status.rawValue)
        response.cacheStatus = status
        return response
    }
}
