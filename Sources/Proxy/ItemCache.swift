import CacheCore
import DynamoWire
import NIOCore

/// The item cache's key: one entry per (table, primary key). The namespace is not part of the key but of the
/// entry, so that a write by any caller replaces or drops the one entry of an item, and an entry filled by one
/// namespace is a miss for the others (see ``Namespace``).
struct ItemKey: CacheKey, CustomStringConvertible {
    let table: String
    let key: CanonicalKey
    let stripeHash: UInt64

    init(table: String, key: CanonicalKey) {
        self.table = table
        self.key = key
        stripeHash = key.hashValue64 ^ (TableGroup.of(table) &* 0x9E37_79B9_7F4A_7C15)
    }

    var description: String { "\(table)/\(key)" }

    var retainedBytes: Int { AllocationSize.of(table) + AllocationSize.of(key.bytes) }

    static func == (lhs: ItemKey, rhs: ItemKey) -> Bool {
        lhs.stripeHash == rhs.stripeHash && lhs.key == rhs.key && lhs.table == rhs.table
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(key)
        hasher.combine(table)
    }
}

/// A hash of a table's name, mixed into its keys' stripe hashes and used to pick its registry stripe.
enum TableGroup {
    /// FNV-1a of the name: stable, cheap, and collisions only cost extra evictions.
    static func of(_ table: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in table.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        return hash
    }
}

/// One cached item, or the fact that it does not exist, as a ready-made GetItem answer.
final class ItemEntry: Sendable {
    /// Who filled it; served only to the same namespace.
    let namespace: Namespace
    /// The table's incarnation when its fill or write began; the entry is served only while it lasts.
    let incarnation: TableIncarnation
    /// A complete GetItem response body without a projection or consumed capacity: `{"Item":{...}}` or `{}`.
    let body: ByteBuffer
    /// Where the item's JSON lies in `body`; nil when the item does not exist.
    let itemRange: Range<Int>?
    /// `x-amz-crc32` of `body`, formatted once.
    let checksum: String
    /// When it was stored (monotonic nanoseconds): what it holds was read no later. A stream record of a change
    /// made after that may replace it; one that cannot be ordered against it only drops it.
    let storedAt: UInt64

    /// `body` must own storage of its own size: a slice of a connection's read buffer would keep the whole
    /// buffer alive and make the charged weight a lie (see ``copying(namespace:body:itemRange:)``).
    private init(
        namespace: Namespace, incarnation: TableIncarnation, body: ByteBuffer, itemRange: Range<Int>?,
        storedAt: UInt64, checksum: String? = nil
    ) {
        self.namespace = namespace
        self.storedAt = storedAt
        self.incarnation = incarnation
        self.body = body
        self.itemRange = itemRange
        self.checksum = checksum ?? String(CRC32.checksum(body))
    }

    /// An entry whose body is a copy of `body` (e.g. an upstream answer that is exactly `{"Item":...}` or `{}`).
    /// `checksum`: the body's `x-amz-crc32` when it is already known to match (the proxy checked the answer's).
    static func copying(
        namespace: Namespace,
        incarnation: TableIncarnation,
        body: ByteBuffer,
        itemRange: Range<Int>?,
        storedAt: UInt64,
        checksum: String? = nil
    ) -> ItemEntry {
        ItemEntry(
            namespace: namespace,
            incarnation: incarnation,
            body: ByteBuffer(bytes: body.readableBytesView),
            itemRange: itemRange,
            storedAt: storedAt,
            checksum: checksum
        )
    }

    /// The GetItem answer `{"Item":<item>}` around raw item JSON, or `{}` (the item does not exist) when nil.
    convenience init(
        namespace: Namespace,
        incarnation: TableIncarnation,
        itemJSON: ByteBuffer?,
        storedAt: UInt64,
        allocator: ByteBufferAllocator
    ) {
        let body = GetItemResponse.compose(itemJSON: itemJSON, consumedCapacity: nil, allocator: allocator)
        self.init(
            namespace: namespace,
            incarnation: incarnation,
            body: body,
            itemRange: itemJSON.map { 8..<(8 + $0.readableBytes) },
            storedAt: storedAt
        )
    }

    /// Bytes charged against the cache budget: what the entry keeps alive (the table's incarnation is shared by all
    /// its entries; the namespace's name is made per request, so each entry holds its own).
    var weight: Int {
        Self.objectBytes + ByteBufferCost.of(body) + AllocationSize.of(checksum) + AllocationSize.of(namespace.value)
    }

    /// The most an entry whose body is at most `bytes` long is charged, given to the store as its entry limit: so
    /// `--item-max-size` limits answers, not charges (a limit that is not a power of two admits bodies up to the
    /// next one, which take the same storage). Room is left for a namespace name of up to 128 bytes.
    static func chargeLimit(forBodiesUpTo bytes: Int) -> Int {
        objectBytes + ByteBufferCost.storageObjectBytes + ByteBufferCost.storage(for: bytes)
            + AllocationSize.rounded(32 + 128 + 1)
    }

    /// The object itself: a class instance's 16-byte header and its stored properties.
    static let objectBytes = AllocationSize.rounded(
        16 + MemoryLayout<Namespace>.stride + MemoryLayout<TableIncarnation>.stride
            + MemoryLayout<ByteBuffer>.stride + MemoryLayout<Range<Int>?>.stride + MemoryLayout<String>.stride
            + MemoryLayout<UInt64>.stride)
}
