import NIOCore

/// What a write's answer means for the cache (see the design note in DynamoProxy.swift).
enum WriteOutcome: Equatable, Sendable {
    /// The storage server acknowledged the write; its answer's body.
    case applied(ByteBuffer)
    /// The server refused it in a way that guarantees nothing was written and our copy is as good as before.
    case notApplied
    /// A condition failed (single-item or in a transaction): nothing was written, but our copy may be stale.
    case conditionFailed
    /// The table does not exist: forget it.
    case tableNotFound
    /// The write may or may not have been applied: timeout, lost connection, 5xx, or an unknown error code.
    case unknown

    /// Error codes after which DynamoDB has written nothing and that say nothing about the item's state.
    private static let harmless: Set<String> = [
        "ValidationException", "SerializationException", "ProvisionedThroughputExceededException",
        "ThrottlingException", "RequestLimitExceeded", "AccessDeniedException", "UnrecognizedClientException",
        "MissingAuthenticationTokenException", "IncompleteSignatureException", "InvalidSignatureException",
        "ItemCollectionSizeLimitExceededException", "TransactionConflictException", "ResourceInUseException",
        "TransactionInProgressException", "IdempotentParameterMismatchException", "LimitExceededException",
    ]

    init(_ answer: UpstreamAnswer) {
        switch answer {
        case .failed(let error):
            self = error.requestMayHaveReachedServer ? .unknown : .notApplied
        case .response(let response):
            switch response.head.status.code {
            case 200..<300:
                self = .applied(response.body)
            case 400..<500:
                switch answer.errorCode {
                case "ConditionalCheckFailedException", "TransactionCanceledException": self = .conditionFailed
                case "ResourceNotFoundException": self = .tableNotFound
                case let code? where Self.harmless.contains(code): self = .notApplied
                default: self = .unknown
                }
            default:
                self = .unknown
            }
        }
    }
}
