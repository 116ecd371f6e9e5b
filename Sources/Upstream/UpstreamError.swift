/// Why a request to the storage server produced no response.
///
/// Its description is a sentence for people (logs, start-up errors); the cases carry the details.
///
/// The distinction that matters to callers is ``requestMayHaveReachedServer``: a write that failed before it was
/// sent changed nothing, while one that failed after it may or may not have been applied (its outcome is unknown).
package enum UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The upstream URL given on the command line is not usable.
    case invalidURL(String)
    /// No TCP connection could be made (refused, unreachable, connect timeout). Nothing was sent.
    case connectFailed(String)
    /// The TLS handshake failed: the server's certificate was refused, or the server refused ours. Nothing was
    /// sent.
    case tlsRefused(String)
    /// The request could not be signed: the proxy has no usable credentials. Nothing was sent.
    case noCredentials(String)
    /// The request was sent but no complete response arrived within the response timeout.
    case responseTimeout
    /// The connection closed or failed after the request was (possibly partly) sent, before a full response;
    /// `beforeAnswer` when not a byte of the answer had arrived (a pooled connection the server had closed).
    case connectionLost(String, beforeAnswer: Bool = false)
    /// The response was not valid HTTP or exceeded the configured size.
    case invalidResponse(String)
    /// The client is shutting down.
    case shutdown

    /// True when the storage server may have received and applied the request.
    package var requestMayHaveReachedServer: Bool {
        switch self {
        case .invalidURL, .connectFailed, .tlsRefused, .noCredentials, .shutdown: false
        case .responseTimeout, .connectionLost, .invalidResponse: true
        }
    }

    package var description: String {
        switch self {
        case .invalidURL(let text), .connectFailed(let text), .tlsRefused(let text), .noCredentials(let text):
            text
        case .responseTimeout: "the storage server did not answer in time"
        case .connectionLost(let text, _): "the connection to the storage server was lost: \(text)"
        case .invalidResponse(let text): "the storage server's answer was not valid: \(text)"
        case .shutdown: "the proxy is shutting down"
        }
    }
}
