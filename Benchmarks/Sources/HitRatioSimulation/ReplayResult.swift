/// What one policy achieved on one trace. Only reads count: a write goes to the storage server whatever the
/// cache holds, so the hit ratio is read hits over reads.
package struct ReplayResult: Sendable, Hashable, Encodable {
    package var reads: Int
    package var hits: Int

    package init(reads: Int, hits: Int) {
        self.reads = reads
        self.hits = hits
    }

    package var hitRatio: Double { reads == 0 ? 0 : Double(hits) / Double(reads) }

    private enum CodingKeys: String, CodingKey { case reads, hits, hitRatio }

    /// Writes the ratio too, so a reader of the JSON need not divide.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reads, forKey: .reads)
        try container.encode(hits, forKey: .hits)
        try container.encode(hitRatio, forKey: .hitRatio)
    }
}

/// A policy that sees one access at a time, as a live cache does.
package protocol OnlineReplayPolicy {
    /// Serves a read; returns whether it was a hit. A miss fills the key (the policy may evict).
    mutating func read(_ key: Int32, at position: Int) -> Bool
    /// A write-through write: the key holds the new value afterwards.
    mutating func write(_ key: Int32, at position: Int)
}

extension OnlineReplayPolicy {
    package mutating func replay(_ trace: Trace) -> ReplayResult {
        var result = ReplayResult(reads: 0, hits: 0)
        for (position, access) in trace.accesses.enumerated() {
            if access.isWrite {
                write(access.key, at: position)
            } else {
                result.reads += 1
                if read(access.key, at: position) { result.hits += 1 }
            }
        }
        return result
    }
}
