// Design note: coherence with writers that bypass this node, through the table's DynamoDB Stream.
//
// Guarantee (with `--streams`): a followed table's entries are served only while its follower has read every
// shard to its end no longer than `streamMaxLag` ago, so no read through this node returns a value older than
// one acknowledged to any writer more than that lag (plus the stream's own delay) before. How:
// - Gate. Each followed table has a StreamGate (StreamGate.swift), closed until the follower is positioned and
//   then opened only until `caught-up time + streamMaxLag`; every cached read of the table checks it, and while
//   it is closed the table is not cached at all (reads pass through, fills store nothing). A follower that
//   lags, stalls or dies closes the gate by doing nothing.
// - Positioning. When the follower has its first iterators (`LATEST`), everything the table had cached is
//   dropped (its incarnation ends; fills that began earlier land in the old one and are never served) and its
//   pages are staled: what is cached from then on was read after the stream's position.
// - Lost place. When records may have been missed (trimmed data, a shard gap, an iterator that cannot be
//   renewed, the stream disabled or replaced) the table is forgotten and its gate closed until it is positioned
//   again.
// - A record is applied as a write through the proxy would be: the key's fills and writes in flight are
//   discarded (a fill that read before the change must not land after it), the record's partition pages and
//   the table's scan and index pages become stale, and the entry is refreshed with the new image (or stored as
//   absent on REMOVE) only if it was stored at least `streamClockMargin` before the change was made: only then
//   is it certain to be older than the record. Otherwise, and for streams without new images, it is dropped.
//   A key nobody cached is not added.
// - Own writes. A write acknowledged through this node already changed the caches; its record must change
//   nothing. Writes to tables followed with new images leave the item's fingerprint in the OwnWriteLedger; a
//   record that matches a pending fingerprint of its key is this node's write, or one that precedes it in the
//   key's order (records of a key arrive in the order of its changes), and everything cached since that write's
//   acknowledgement is at least as new: it is skipped. A record that matches none clears the key's pending
//   writes and is applied. Pending writes whose records never come (real DynamoDB writes no record for a
//   write that changes nothing) expire; expiring only turns a skip into an apply, which is always safe. A
//   pending write counts only within the follower's position it began and ended in (StreamGate.position):
//   records from before a position are never delivered, so one matched later would be another writer's.
// - Fence. For a moment after the change (`streamFillFence` past it, and never past its receipt plus that),
//   fills of its key and pages that may hold it are answered but not stored: an eventually consistent read
//   made that soon may come from a replica that has not seen the change, and storing it would keep the old
//   value until its TTL.
// - One database. A follower reads the stream of the proxy's own account and region. When the proxy signs
//   every request, every entry is of that database. With callers' own signatures, only entries and writes of
//   the follower's own namespace are (another key may reach another account's table of that name): records
//   refresh, and own writes are recognised, only there; other entries are dropped.
// Everything here runs through `apply` (CacheEffects.swift), like writes and fills.

import CacheCore
import DynamoWire
import NIOCore
import Synchronization

/// What a write left an item as, for recognising its stream record.
enum ItemImage: Hashable, Sendable {
    case absent
    /// The item's ``AttributeMap/fingerprint``.
    case item(Int)
}

/// Writes acknowledged through this node whose stream records have not been met yet (see the design note).
/// Striped like the stores; bounded per key and per stripe, and forgetting is always safe.
final class OwnWriteLedger: Sendable {
    private struct Pending {
        let image: ItemImage
        /// The follower's position the write began and ended in (StreamGate.position).
        let position: UInt64
        let at: UInt64
    }

    private final class Lock: Sendable {
        let pending = Mutex<[ItemKey: [Pending]]>([:])
    }

    private let stripes: [Lock] = (0..<16).map { _ in Lock() }
    static let maxPerKey = 8
    static let maxKeysPerStripe = 4096
    /// How long a pending write waits for its record (nanoseconds).
    let window: UInt64

    init(window: UInt64 = 30_000_000_000) {
        self.window = window
    }

    private func lock(_ key: ItemKey) -> Lock { stripes[Int(key.stripeHash % UInt64(stripes.count))] }

    /// Records an acknowledged write of `key` that left it as `image`.
    func note(_ key: ItemKey, image: ItemImage, position: UInt64, now: UInt64) {
        let window = window
        lock(key).pending.withLock { pending in
            pending[key, default: []].append(Pending(image: image, position: position, at: now))
            if pending[key]!.count > Self.maxPerKey { pending[key]!.removeFirst() }
            guard pending.count > Self.maxKeysPerStripe else { return }
            pending = pending.filter { now &- $0.value.last!.at < window }
            if pending.count > Self.maxKeysPerStripe { pending.removeAll() }
        }
    }

    /// Whether a record that left `key` as `image`, delivered in the follower's `position`, is one of this
    /// node's pending writes (or precedes one): then it and the writes before it are consumed. Otherwise the
    /// key's pending writes are forgotten.
    func consume(_ key: ItemKey, image: ItemImage?, position: UInt64, now: UInt64) -> Bool {
        let window = window
        return lock(key).pending.withLock { pending in
            guard let list = pending.removeValue(forKey: key) else { return false }
            guard let image,
                let index = list.firstIndex(where: {
                    $0.image == image && $0.position == position && now &- $0.at < window
                })
            else { return false }
            if index + 1 < list.count { pending[key] = Array(list[(index + 1)...]) }
            return true
        }
    }
}

/// Keys changed elsewhere a moment ago (seen in a stream): until its deadline a key's fills are answered but not
/// stored, since an eventually consistent read made so soon may not show the change. Striped; bounded by
/// turning the whole stripe's keys fenced until the latest deadline it had to let go, which errs towards
/// storing less.
final class RecentChanges: Sendable {
    private struct Stripe {
        var until: [ItemKey: UInt64] = [:]
        /// Every key of the stripe is fenced until this.
        var all: UInt64 = 0
    }

    private final class Lock: Sendable {
        let stripe = Mutex(Stripe())
    }

    private let stripes: [Lock] = (0..<16).map { _ in Lock() }
    static let maxKeysPerStripe = 4096

    private func lock(_ key: ItemKey) -> Lock { stripes[Int(key.stripeHash % UInt64(stripes.count))] }

    func fence(_ key: ItemKey, until deadline: UInt64, now: UInt64) {
        lock(key).stripe.withLock { stripe in
            stripe.until[key] = max(stripe.until[key] ?? 0, deadline)
            guard stripe.until.count > Self.maxKeysPerStripe else { return }
            stripe.until = stripe.until.filter { $0.value > now }
            if stripe.until.count > Self.maxKeysPerStripe {
                stripe.all = max(stripe.all, stripe.until.values.max() ?? 0)
                stripe.until.removeAll()
            }
        }
    }

    /// Whether a fill of `key` that begins at `now` must not be stored. Asked on misses of followed tables only.
    func isFenced(_ key: ItemKey, now: UInt64) -> Bool {
        lock(key).stripe.withLock { stripe in
            if now < stripe.all { return true }
            guard let deadline = stripe.until[key] else { return false }
            if now < deadline { return true }
            stripe.until[key] = nil
            return false
        }
    }
}

/// What one stream record does to the caches: a plan, like a write's.
enum StreamRecordPlan {
    static func effects(
        of record: StreamRecord, table: String, viewType: StreamViewType, changedAt: UInt64,
        allocator: ByteBufferAllocator
    ) -> [CacheEffect] {
        guard let canonical = try? CanonicalKey(record.keys) else {
            // Keys the proxy cannot address: it cannot tell which entry changed.
            return [.count(.stream), .dropItems(table: table), .stalePages(table: table, partitions: nil)]
        }
        let key = ItemKey(table: table, key: canonical)
        let item: CacheEffect
        switch (viewType.hasNewImages, record.event, record.newImage) {
        case (true, .remove, _):
            item = .refresh(key, image: nil, changedAt: changedAt)
        case (true, _, let image?) where image.isInStoredForm:
            var json = allocator.buffer(capacity: 256)
            image.encode(into: &json)
            item = .refresh(key, image: json, changedAt: changedAt)
        default:
            item = .evict(key)
        }
        let partitions = record.keys.entries.map(\.value).partitionHashes
        return [
            .count(.stream), item, .fence(key, partitions: partitions, changedAt: changedAt),
            .stalePages(table: table, partitions: partitions),
        ]
    }

    /// How the record left its item, for matching it against this node's own writes; nil when it cannot say.
    static func image(of record: StreamRecord) -> ItemImage? {
        if record.event == .remove { return .absent }
        return record.newImage.map { .item($0.fingerprint) }
    }
}

extension DynamoProxy {
    /// The stream gate of `table` (made on first use); nil when its stream is not followed.
    package func streamGate(of table: String) -> StreamGate? {
        tables.streamGate(of: TableName.normalized(table))
    }

    /// Whether entries of `table` are served from memory now; nil when its stream is not followed.
    package func isServingStreamTable(_ table: String) -> Bool? {
        tables.existingStreamGate(of: TableName.normalized(table))?.isOpen(now: clock())
    }

    /// The table has no stream to follow: it is cached, by TTL alone, from now on.
    package func streamNotFollowed(_ table: String) {
        guard let gate = streamGate(of: table) else { return }
        gate.setRecognisesOwnWrites(false)
        gate.movePosition()
        gate.open(until: .max)
    }

    /// The table does not exist: its gate is forgotten (nothing of it is cached meanwhile), so that a table
    /// made later under the name gets a gate and a follower of its own when it is met.
    package func streamTableMissing(_ table: String) {
        tables.removeStreamGate(of: TableName.normalized(table))
    }

    /// The follower of `table` has its first iterators, requested at `at` (monotonic nanoseconds): what was
    /// cached before is dropped, and the table is served until `at + streamMaxLag` unless the follower reports
    /// again.
    package func streamPositioned(_ table: String, keyAttributes: [String], viewType: StreamViewType, at: UInt64) {
        let table = TableName.normalized(table)
        guard let gate = tables.streamGate(of: table) else { return }
        gate.close()
        gate.movePosition()
        gate.setRecognisesOwnWrites(viewType.hasNewImages)
        var effects: [CacheEffect] = [.dropItems(table: table), .stalePages(table: table, partitions: nil)]
        if !keyAttributes.isEmpty { effects.insert(.confirmSchema(table: table, attributes: keyAttributes), at: 0) }
        apply(effects)
        gate.open(until: at &+ configuration.streamMaxLag)
    }

    /// Every shard of `table`'s stream was read to its end by requests sent at `asOf` or later.
    package func streamCurrent(_ table: String, asOf: UInt64) {
        streamGate(of: table)?.open(until: asOf &+ configuration.streamMaxLag)
    }

    /// The follower lost its place: the table is forgotten and not served until the follower is positioned.
    package func streamLost(_ table: String) {
        let table = TableName.normalized(table)
        if let gate = streamGate(of: table) {
            gate.close()
            gate.setRecognisesOwnWrites(false)
            gate.movePosition()
        }
        apply([.forgetTable(table, .streamLost)])
    }

    /// Applies records of `table`'s stream, in order. `wallNow` is the Unix time now, to date the changes on
    /// the monotonic clock. Returns how many were this node's own writes (and changed nothing).
    @discardableResult
    package func applyStreamRecords(
        _ records: [StreamRecord], table: String, viewType: StreamViewType, wallNow: Double
    ) -> Int {
        let table = TableName.normalized(table)
        let position = tables.existingStreamGate(of: table)?.position ?? 0
        var own = 0
        for record in records {
            let now = clock()
            if viewType.hasNewImages, let canonical = try? CanonicalKey(record.keys),
                ownWrites.consume(
                    ItemKey(table: table, key: canonical), image: StreamRecordPlan.image(of: record),
                    position: position, now: now)
            {
                own += 1
                continue
            }
            let age = max(0, wallNow - record.approximateCreation)
            let ageNanoseconds = UInt64(min(age, 1e9) * 1e9)
            let changedAt = now > ageNanoseconds ? now - ageNanoseconds : 0
            apply(
                StreamRecordPlan.effects(
                    of: record, table: table, viewType: viewType, changedAt: changedAt, allocator: allocator))
        }
        return own
    }

    /// Whether a miss of `key` at `now` must be answered without being stored: its table's stream is followed
    /// and the key changed elsewhere a moment ago. Without `--streams`, no lock is taken.
    func isFenced(_ key: ItemKey, now: UInt64) -> Bool {
        configuration.streams != nil && recentChanges.isFenced(key, now: now)
    }

    /// Whether entries and writes of `namespace` are of the database whose streams the followers read: all of
    /// them when the proxy signs every request itself; with callers' own signatures, only the follower's own
    /// namespace (other keys may reach other accounts' tables of the same name).
    func streamSees(_ namespace: Namespace) -> Bool {
        configuration.namespaces == .shared || namespace == streamNamespace()
    }

    /// Carries out a `.refresh` effect.
    func refresh(_ key: ItemKey, image: ByteBuffer?, changedAt: UInt64) {
        let now = clock()
        let margin = configuration.streamClockMargin
        guard let (incarnation, _) = tables.incarnation(of: key.table), changedAt > margin else {
            items.invalidate(key)
            return
        }
        let allocator = allocator
        let ttl = itemTTL(negative: image == nil, table: key.table)
        let streamNamespace = configuration.namespaces == .shared ? nil : streamNamespace()
        let sharedNamespace = configuration.namespaces == .shared
        items.refresh(key, now: now) { current in
            // Only an entry of the followed database, stored before the change for certain, takes the image.
            guard sharedNamespace || current.namespace == streamNamespace, current.storedAt < changedAt - margin
            else { return nil }
            let entry = ItemEntry(
                namespace: current.namespace, incarnation: incarnation, itemJSON: image, storedAt: now,
                allocator: allocator)
            return (entry, entry.weight, ttl == 0 ? .max : now &+ ttl)
        }
    }
}
