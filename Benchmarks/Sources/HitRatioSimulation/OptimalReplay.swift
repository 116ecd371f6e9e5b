import HeapModule

/// Bélády's clairvoyant policy: the upper bound on the hit ratio of any policy holding `capacity` entries.
///
/// - Each access's "next use" is the position of the key's next read, provided no write of the key comes first;
///   otherwise (no further read, or a write first) it is "never": the write will install the new value for free,
///   so a copy held until then serves nothing.
/// - A miss or a write offers the key to the cache. When full, the cache keeps the `capacity` keys used soonest
///   among its residents and the offered key: it evicts the farthest, which may be the offered key itself
///   (bypass, as Caffeine's clairvoyant policy does). Bypass only helps, so this bound is at least as high as
///   the textbook always-insert Bélády, which is itself at least LRU's.
package enum OptimalReplay {
    /// For each position, when its key is next used (see the type's note). "Never" is encoded as
    /// `count + position`: beyond every real position, and unique, so a heap entry names exactly one access.
    package static func nextUses(_ trace: Trace) -> [Int] {
        let count = trace.accesses.count
        var nextAccess = Array(repeating: -1, count: trace.keyCount)
        var uses = Array(repeating: 0, count: count)
        for position in stride(from: count - 1, through: 0, by: -1) {
            let key = Int(trace.accesses[position].key)
            let following = nextAccess[key]
            uses[position] =
                following >= 0 && !trace.accesses[following].isWrite ? following : count + position
            nextAccess[key] = position
        }
        return uses
    }

    package static func replay(_ trace: Trace, capacity: Int) -> ReplayResult {
        precondition(capacity > 0)
        let count = trace.accesses.count
        let uses = nextUses(trace)
        /// The key's next use while resident; -1 when absent.
        var residentUse = Array(repeating: -1, count: trace.keyCount)
        var residents = 0
        // Max-heap of next uses with lazy deletion: an entry is live only if its key is resident with exactly
        // that next use (next uses are unique, see `nextUses`).
        var heap = Heap<Int>()
        func key(of use: Int) -> Int {
            Int(trace.accesses[use < count ? use : use - count].key)
        }
        func farthestResident() -> Int {
            while let top = heap.max, residentUse[key(of: top)] != top { heap.removeMax() }
            return heap.max!
        }

        var result = ReplayResult(reads: 0, hits: 0)
        for (position, access) in trace.accesses.enumerated() {
            let k = Int(access.key)
            let use = uses[position]
            if !access.isWrite { result.reads += 1 }
            if residentUse[k] >= 0 {
                if !access.isWrite { result.hits += 1 }
                residentUse[k] = use
                heap.insert(use)
                continue
            }
            if residents == capacity {
                let farthest = farthestResident()
                if use > farthest { continue }  // bypass: the offered key is needed last
                heap.removeMax()
                residentUse[key(of: farthest)] = -1
                residents -= 1
            }
            residentUse[k] = use
            residents += 1
            heap.insert(use)
        }
        return result
    }
}
