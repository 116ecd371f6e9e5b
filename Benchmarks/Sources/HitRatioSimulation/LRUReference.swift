/// Plain LRU by entry count over dense key ids: a doubly linked list threaded through two arrays indexed by key.
/// The reference the store is checked against; kept deliberately simple rather than fast or general.
package struct LRUReference: OnlineReplayPolicy {
    private static let none: Int32 = -1
    package let capacity: Int
    private var previous: [Int32]
    private var next: [Int32]
    private var resident: [Bool]
    /// Most recently used.
    private var head: Int32 = none
    /// Least recently used: evicted first.
    private var tail: Int32 = none
    package private(set) var count = 0

    package init(capacity: Int, keyCount: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        previous = Array(repeating: Self.none, count: keyCount)
        next = Array(repeating: Self.none, count: keyCount)
        resident = Array(repeating: false, count: keyCount)
    }

    package func contains(_ key: Int32) -> Bool { resident[Int(key)] }

    package mutating func read(_ key: Int32, at position: Int) -> Bool {
        let hit = resident[Int(key)]
        touch(key)
        return hit
    }

    package mutating func write(_ key: Int32, at position: Int) { touch(key) }

    /// Makes `key` the most recently used, inserting it (and evicting the tail when full) if absent.
    private mutating func touch(_ key: Int32) {
        if resident[Int(key)] {
            unlink(key)
        } else {
            if count == capacity {
                let victim = tail
                unlink(victim)
                resident[Int(victim)] = false
                count -= 1
            }
            resident[Int(key)] = true
            count += 1
        }
        previous[Int(key)] = Self.none
        next[Int(key)] = head
        if head != Self.none { previous[Int(head)] = key }
        head = key
        if tail == Self.none { tail = key }
    }

    private mutating func unlink(_ key: Int32) {
        let before = previous[Int(key)]
        let after = next[Int(key)]
        if before != Self.none { next[Int(before)] = after } else { head = after }
        if after != Self.none { previous[Int(after)] = before } else { tail = before }
    }
}
