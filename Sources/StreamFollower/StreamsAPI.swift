import DynamoWire
import NIOCore

/// The calls a follower makes: DescribeTable (DynamoDB) and the DynamoDB Streams API.
package enum StreamsOperation: String, Sendable, CaseIterable {
    case describeTable = "DynamoDB_20120810.DescribeTable"
    case describeStream = "DynamoDBStreams_20120810.DescribeStream"
    case getShardIterator = "DynamoDBStreams_20120810.GetShardIterator"
    case getRecords = "DynamoDBStreams_20120810.GetRecords"
}

/// An answer of the storage server (or of its Streams endpoint).
package struct StreamsAnswer: Sendable {
    package var status: Int
    package var body: ByteBuffer

    package init(status: Int, body: ByteBuffer) {
        self.status = status
        self.body = body
    }
}

/// Why a call got no answer.
package struct StreamsCallError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable {
        /// The follower has no credentials to sign with; `description` names what it looked for.
        case noCredentials
        /// Not sent, or no answer (refused, timed out, connection lost).
        case transport
    }

    package var kind: Kind
    package var description: String

    package init(_ kind: Kind, description: String) {
        self.kind = kind
        self.description = description
    }
}

/// Where the follower's calls go: the executable signs them with the proxy's own credentials; tests script them.
package protocol StreamsAPI: Sendable {
    func send(_ operation: StreamsOperation, body: ByteBuffer) async throws(StreamsCallError) -> StreamsAnswer
}

/// What a follower tells the caches. Called from the follower's task, one call at a time per table.
package protocol StreamFollowerDelegate: Sendable {
    /// The table has no stream: it is cached by TTL alone until the follower looks again.
    func notFollowed(_ table: String)
    /// The table does not exist: its follower has stopped; nothing of the table is cached until it is met again
    /// (and followed anew). Called by ``StreamFollowers`` once the follower is gone.
    func missing(_ table: String)
    /// The follower holds its first iterators, requested at `at` (monotonic nanoseconds).
    func positioned(_ table: String, keyAttributes: [String], viewType: StreamViewType, at: UInt64)
    /// Records to apply, in order. Returns how many were this node's own writes.
    func apply(_ records: [StreamRecord], table: String, viewType: StreamViewType) -> Int
    /// Every shard was read to its end by requests sent at `asOf` or later.
    func current(_ table: String, asOf: UInt64)
    /// Records may have been missed: what is cached of the table must go, and it is not served until positioned.
    func lost(_ table: String)
}
