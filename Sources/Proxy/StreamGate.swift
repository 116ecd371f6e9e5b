import Synchronization

/// Which tables have their streams followed (`--streams`): the entries of those tables are served only while
/// their follower is current (see the design note in DynamoProxy+Streams.swift).
package enum StreamScope: Sendable, Equatable {
    /// Every table the proxy caches; a table without a stream is cached by TTL alone.
    case all
    /// These tables (normalised names); others are cached by TTL alone.
    case tables(Set<String>)

    func contains(_ table: String) -> Bool {
        switch self {
        case .all: true
        case .tables(let names): names.contains(table)
        }
    }
}

/// Whether one table's entries may be served now: its follower opens the gate until a deadline each time it
/// has read every shard to its end, so a follower that falls behind, stalls or dies closes it by itself.
/// Read on every request for the table: one atomic load, no lock.
package final class StreamGate: Sendable {
    private let openUntil = Atomic<UInt64>(0)
    private let newImages = Atomic<Bool>(false)
    private let place = Atomic<UInt64>(0)
    /// The gate of tables past the registry's limit: never opens.
    let isPermanentlyClosed: Bool

    init(permanentlyClosed: Bool = false) {
        isPermanentlyClosed = permanentlyClosed
    }

    /// Whether entries may be served at `now` (monotonic nanoseconds).
    package func isOpen(now: UInt64) -> Bool { now < openUntil.load(ordering: .acquiring) }

    /// Opens the gate until `deadline` (`.max`: for good, the table has no stream to follow).
    package func open(until deadline: UInt64) {
        if !isPermanentlyClosed { openUntil.store(deadline, ordering: .releasing) }
    }

    /// Closes it until the follower opens it again.
    package func close() { openUntil.store(0, ordering: .releasing) }

    /// Whether the followed stream's records carry new images, so that records of this node's own writes can be
    /// recognised (and change nothing).
    var recognisesOwnWrites: Bool { newImages.load(ordering: .relaxed) }

    func setRecognisesOwnWrites(_ value: Bool) { newImages.store(value, ordering: .relaxed) }

    /// Which position of the follower this is: it moves each time the follower positions or loses its place.
    /// A write is recognised in the stream only if it began and ended within one position: the records of a
    /// write from before a position are never delivered, and waiting for one would skip a later record.
    var position: UInt64 { place.load(ordering: .acquiring) }

    func movePosition() { place.add(1, ordering: .acquiringAndReleasing) }
}
