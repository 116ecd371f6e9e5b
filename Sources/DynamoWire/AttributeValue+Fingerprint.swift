extension AttributeMap {
    /// A hash of the item that does not depend on the order of its attributes, of a map's members or of a set's
    /// elements, as DynamoDB does not keep them: the item a write stored and the same item in a stream record
    /// hash alike. Numbers and binaries hash by their text, so one item spelt two ways hashes differently; the
    /// proxy only ever compares items in their stored form. Seeded per process: never persist it.
    package var fingerprint: Int {
        var hasher = Hasher()
        Self.combine(self, into: &hasher)
        return hasher.finalize()
    }

    private static func combine(_ map: AttributeMap, into hasher: inout Hasher) {
        let entries = map.entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.name)
            combine(entry.value, into: &hasher)
        }
    }

    private static func combine(_ value: AttributeValue, into hasher: inout Hasher) {
        switch value {
        case .s(let text):
            hasher.combine(0 as UInt8)
            hasher.combine(text)
        case .n(let text):
            hasher.combine(1 as UInt8)
            hasher.combine(text)
        case .b(let text):
            hasher.combine(2 as UInt8)
            hasher.combine(text)
        case .bool(let flag):
            hasher.combine(3 as UInt8)
            hasher.combine(flag)
        case .null: hasher.combine(4 as UInt8)
        case .l(let values):
            hasher.combine(5 as UInt8)
            hasher.combine(values.count)
            for element in values { combine(element, into: &hasher) }
        case .m(let map):
            hasher.combine(6 as UInt8)
            combine(map, into: &hasher)
        case .ss(let texts):
            hasher.combine(7 as UInt8)
            hasher.combine(texts.sorted())
        case .ns(let texts):
            hasher.combine(8 as UInt8)
            hasher.combine(texts.sorted())
        case .bs(let texts):
            hasher.combine(9 as UInt8)
            hasher.combine(texts.sorted())
        }
    }
}
