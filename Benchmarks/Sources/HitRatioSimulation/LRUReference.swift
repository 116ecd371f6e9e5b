/// Plain LRU by entry count over dense key ids: one queue whose head is the most recently used.
/// The baseline the store is weighed against; kept deliberately simple rather than fast or general.
package struct LRUReference: OnlineReplayPolicy {
    package let capacity: Int
    private var queue: KeyQueue

    package init(capacity: Int, keyCount: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        queue = KeyQueue(keyCount: keyCount)
    }

    package mutating func read(_ key: Int32, at position: Int) -> Bool {
        let hit = queue.contains(key)
        touch(key)
        return hit
    }

    package mutating func write(_ key: Int32, at position: Int) { touch(key) }

    /// Makes `key` the most recently used, inserting it (and evicting the least recently used when full) if absent.
    private mutating func touch(_ key: Int32) {
        if queue.contains(key) {
            queue.moveToHead(key)
            return
        }
        if queue.count == capacity { _ = queue.popTail() }
        queue.pushHead(key)
    }
}
