/// A primary key in a byte form that is equal exactly when DynamoDB would address the same item.
///
/// Independent of member order (attributes are sorted by the bytes of their names), of JSON spelling (escapes and
/// whitespace are gone once parsed), of number spelling ("1", "1.0", "01", "10E-1" and "1e0" encode alike, as do
/// "-0" and "0") and of Base64 spelling (binaries are decoded). Layout: the attribute count, then per attribute
/// its name's length (4 bytes, little-endian) and bytes, the type letter (S, N or B), and the value's length and
/// bytes. The table is not part of the key; callers namespace by table.
package struct CanonicalKey: Hashable, Sendable {
    /// The encoded key.
    package let bytes: [UInt8]
    /// A stable 64-bit hash of `bytes` (FNV-1a, then a finalizer that spreads it over all bits) for picking a
    /// lock stripe with `hashValue64 & mask`. Identical across processes and runs.
    package let hashValue64: UInt64

    /// Encodes `key`, which must have one or two attributes of type S, N or B with non-empty strings and binaries.
    package init(_ key: AttributeMap) throws(WireError) {
        try self.init(key, field: "Key")
    }

    init(_ key: AttributeMap, field: String) throws(WireError) {
        guard key.count == 1 || key.count == 2 else { throw .invalidField(field: field, reason: .keyMismatch) }
        var entries = key.entries
        if entries.count == 2 && entries[1].name.utf8.lexicographicallyPrecedes(entries[0].name.utf8) {
            entries.swapAt(0, 1)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.reduce(1) { $0 + $1.name.utf8.count + 48 })
        bytes.append(UInt8(entries.count))
        for entry in entries {
            Self.appendLength(entry.name.utf8.count, to: &bytes)
            bytes.append(contentsOf: entry.name.utf8)
            let lengthIndex: Int
            switch entry.value {
            case .s(let text):
                guard !text.isEmpty else {
                    throw .invalidField(field: field, reason: .emptyKeyValue(attribute: entry.name))
                }
                bytes.append(UInt8(ascii: "S"))
                lengthIndex = Self.appendLength(0, to: &bytes)
                bytes.append(contentsOf: text.utf8)
            case .n(let text):
                bytes.append(UInt8(ascii: "N"))
                lengthIndex = Self.appendLength(0, to: &bytes)
                do {
                    try DynamoNumber.appendCanonical(text, to: &bytes)
                } catch {
                    throw .invalidField(field: field, reason: error)
                }
            case .b(let base64):
                bytes.append(UInt8(ascii: "B"))
                lengthIndex = Self.appendLength(0, to: &bytes)
                guard Base64.decode(base64, appendingTo: &bytes) else {
                    throw .invalidField(field: field, reason: .invalidBase64)
                }
                guard bytes.count > lengthIndex + 4 else {
                    throw .invalidField(field: field, reason: .emptyKeyValue(attribute: entry.name))
                }
            default:
                throw .invalidField(field: field, reason: .keyMismatch)
            }
            Self.patchLength(at: lengthIndex, in: &bytes)
        }
        self.bytes = bytes
        self.hashValue64 = Self.hash64(bytes)
    }

    package static func == (lhs: CanonicalKey, rhs: CanonicalKey) -> Bool {
        lhs.hashValue64 == rhs.hashValue64 && lhs.bytes == rhs.bytes
    }

    /// Feeds the bytes, not `hashValue64`, to the seeded hasher: keys are user input, and FNV collisions are easy to
    /// construct, so dictionaries keyed by `CanonicalKey` stay resistant to hash flooding.
    package func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Appends `length` as 4 little-endian bytes; returns where they start.
    @discardableResult
    private static func appendLength(_ length: Int, to bytes: inout [UInt8]) -> Int {
        let index = bytes.count
        let value = UInt32(truncatingIfNeeded: length)
        for shift in stride(from: 0, to: 32, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
        return index
    }

    /// Writes the length of everything after the 4 length bytes at `index` into them.
    private static func patchLength(at index: Int, in bytes: inout [UInt8]) {
        let value = UInt32(truncatingIfNeeded: bytes.count - index - 4)
        for k in 0..<4 {
            bytes[index + k] = UInt8(truncatingIfNeeded: value >> UInt32(8 * k))
        }
    }

    /// FNV-1a over the bytes, then the murmur3 finalizer so that the low bits used for striping depend on every
    /// input byte.
    static func hash64(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 33
        hash = hash &* 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        hash = hash &* 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return hash
    }
}

extension AttributeMap {
    /// The canonical key formed by the attributes `names` of this item (a table's key schema, partition key first);
    /// nil when one is missing, has a type other than S, N or B, or has an invalid value.
    package func primaryKey(named names: [String]) -> CanonicalKey? {
        var key = AttributeMap()
        for name in names {
            guard let value = self[name] else { return nil }
            key[name] = value
        }
        return try? CanonicalKey(key)
    }
}
