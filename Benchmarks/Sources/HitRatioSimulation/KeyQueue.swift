/// A doubly linked queue of dense key ids threaded through arrays indexed by key, for the reference policies.
/// A key is in at most one queue of a policy at a time; each queue owns its own links.
struct KeyQueue {
    static let none: Int32 = -1
    private var previous: [Int32]
    private var next: [Int32]
    private var member: [Bool]
    /// Newest.
    private(set) var head: Int32 = none
    /// Oldest: the next candidate for eviction.
    private(set) var tail: Int32 = none
    private(set) var count = 0

    init(keyCount: Int) {
        previous = Array(repeating: Self.none, count: keyCount)
        next = Array(repeating: Self.none, count: keyCount)
        member = Array(repeating: false, count: keyCount)
    }

    func contains(_ key: Int32) -> Bool { member[Int(key)] }

    /// Newer neighbour of `key` (towards the head), or `none`.
    func newer(than key: Int32) -> Int32 { previous[Int(key)] }

    mutating func pushHead(_ key: Int32) {
        precondition(!member[Int(key)])
        member[Int(key)] = true
        count += 1
        previous[Int(key)] = Self.none
        next[Int(key)] = head
        if head != Self.none { previous[Int(head)] = key }
        head = key
        if tail == Self.none { tail = key }
    }

    mutating func remove(_ key: Int32) {
        precondition(member[Int(key)])
        let before = previous[Int(key)]
        let after = next[Int(key)]
        if before != Self.none { next[Int(before)] = after } else { head = after }
        if after != Self.none { previous[Int(after)] = before } else { tail = before }
        member[Int(key)] = false
        count -= 1
    }

    mutating func popTail() -> Int32 {
        let key = tail
        remove(key)
        return key
    }

    mutating func moveToHead(_ key: Int32) {
        remove(key)
        pushHead(key)
    }
}
