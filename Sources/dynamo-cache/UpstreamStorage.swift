import NIOCore
import Proxy
import Upstream

/// The storage server as the proxy sees it, over the Upstream clients: DynamoDB Streams API requests go to their
/// own endpoint when real DynamoDB has one for them, everything else to the storage server. Proxy owns the
/// vocabulary (`StorageServer`); this is the one place it meets Upstream's.
struct UpstreamStorage: StorageServer {
    let main: UpstreamClient
    let streams: UpstreamClient?

    init(main: UpstreamClient, streams: UpstreamClient? = nil) {
        self.main = main
        self.streams = streams
    }

    func execute(_ request: StorageRequest, on eventLoop: any EventLoop) -> EventLoopFuture<StorageResponse> {
        var client = main
        if let streams,
            request.head.headers.first(name: "x-amz-target")?.hasPrefix("DynamoDBStreams_20120810.") == true
        {
            client = streams
        }
        let upstream = UpstreamRequest(
            head: request.head, body: request.body, retryOnStaleConnection: request.retryOnStaleConnection)
        // One promise, as a `map` would cost, carrying both the answer and the failure across.
        let promise = eventLoop.makePromise(of: StorageResponse.self)
        client.execute(upstream, on: eventLoop).whenComplete { result in
            switch result {
            case .success(let response): promise.succeed(StorageResponse(head: response.head, body: response.body))
            case .failure(let error): promise.fail(StorageError(error))
            }
        }
        return promise.futureResult
    }
}

extension StorageError {
    init(_ error: any Error) {
        guard let error = error as? UpstreamError else {
            self.init(.connectionLost, description: "\(error)")
            return
        }
        switch error {
        case .connectFailed(let reason): self.init(.unreachable, reason: reason, description: error.description)
        case .invalidURL, .shutdown: self.init(.unreachable, description: error.description)
        case .tlsRefused(let reason): self.init(.tlsRefused, reason: reason, description: error.description)
        case .noCredentials: self.init(.noCredentials, description: error.description)
        case .responseTimeout: self.init(.timeout, description: error.description)
        case .connectionLost: self.init(.connectionLost, description: error.description)
        case .invalidResponse: self.init(.invalidResponse, description: error.description)
        }
    }
}
