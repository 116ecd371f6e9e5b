// The eviction policies weighed against LRU for the store, each by entry count over dense key ids, as their
// papers describe them. The simulator prints them beside the store so the choice stays visible and repeatable.
//
// - S3-FIFO (Yang et al., SOSP '23): a small FIFO (10%) that new keys enter, a main FIFO (90%) and a ghost FIFO
//   of keys recently evicted from the small one. A hit only raises a 2-bit counter. Keys read again while in the
//   small queue, or met again while remembered by the ghost, go to main; main reinserts keys with a count left.
// - SIEVE (Zhang et al., NSDI '24): one FIFO and a hand; a hit sets a visited bit; the hand clears visited bits
//   as it passes and evicts the first key without one.
// - W-TinyLFU (Einziger et al., TOS '17; Caffeine): a 1% LRU window, an SLRU main (20% probation, 80%
//   protected) and a count-min sketch of 4-bit counters halved every 10 x capacity accesses; the window's victim
//   enters main only if the sketch says it is more frequent than main's victim. A hit increments the sketch and
//   reorders an LRU list.
//
// Writes install the key as the store does (write-through), but do not count as a use: a write says nothing
// about how often a key is read.

import LoadGenerator

/// S3-FIFO: small queue 10%, counter capped at 3, a key read once more while in the small queue goes to main.
/// The ghost remembers as many keys as the cache holds (the paper: as many as main holds; no measurable
/// difference here, and the store can count its residents but not main's capacity in entries when weights vary).
package struct S3FIFOReference: OnlineReplayPolicy {
    package let capacity: Int
    private var small: KeyQueue
    private var main: KeyQueue
    private var ghost: KeyQueue
    private var frequency: [UInt8]

    package init(capacity: Int, keyCount: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        small = KeyQueue(keyCount: keyCount)
        main = KeyQueue(keyCount: keyCount)
        ghost = KeyQueue(keyCount: keyCount)
        frequency = Array(repeating: 0, count: keyCount)
    }

    package mutating func read(_ key: Int32, at position: Int) -> Bool {
        if small.contains(key) || main.contains(key) {
            frequency[Int(key)] = min(frequency[Int(key)] + 1, 3)
            return true
        }
        insert(key)
        return false
    }

    package mutating func write(_ key: Int32, at position: Int) {
        if !small.contains(key) && !main.contains(key) { insert(key) }
    }

    /// Asks the ghost before evicting (the paper asks after), as the store does: the key was still remembered when
    /// it was asked for, even if the eviction for it then pushes it out of the ghost.
    private mutating func insert(_ key: Int32) {
        let remembered = ghost.contains(key)
        if remembered { ghost.remove(key) }
        while small.count + main.count >= capacity { evict() }
        frequency[Int(key)] = 0
        if remembered { main.pushHead(key) } else { small.pushHead(key) }
    }

    private mutating func evict() {
        // 10% exactly, not rounded to whole entries (as the store's byte budget does).
        if small.count * 10 >= capacity || main.count == 0 { evictSmall() } else { evictMain() }
    }

    private mutating func evictSmall() {
        while small.count > 0 {
            let key = small.popTail()
            if frequency[Int(key)] > 0 {
                frequency[Int(key)] = 0
                main.pushHead(key)
                if main.count * 10 > capacity * 9 {
                    evictMain()
                    return
                }
                continue
            }
            ghost.pushHead(key)
            while ghost.count > max(small.count + main.count, 1) { _ = ghost.popTail() }
            return
        }
    }

    private mutating func evictMain() {
        while main.count > 0 {
            let key = main.tail
            if frequency[Int(key)] > 0 {
                frequency[Int(key)] -= 1
                main.moveToHead(key)
                continue
            }
            _ = main.popTail()
            return
        }
    }
}

/// SIEVE: one queue, a visited bit per key, a hand that moves from the oldest key towards the newest.
package struct SIEVEReference: OnlineReplayPolicy {
    package let capacity: Int
    private var queue: KeyQueue
    private var visited: [Bool]
    private var hand: Int32 = KeyQueue.none

    package init(capacity: Int, keyCount: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        queue = KeyQueue(keyCount: keyCount)
        visited = Array(repeating: false, count: keyCount)
    }

    package mutating func read(_ key: Int32, at position: Int) -> Bool {
        if queue.contains(key) {
            visited[Int(key)] = true
            return true
        }
        insert(key)
        return false
    }

    package mutating func write(_ key: Int32, at position: Int) {
        if !queue.contains(key) { insert(key) }
    }

    private mutating func insert(_ key: Int32) {
        if queue.count >= capacity { evict() }
        visited[Int(key)] = false
        queue.pushHead(key)
    }

    private mutating func evict() {
        var candidate = hand == KeyQueue.none ? queue.tail : hand
        while visited[Int(candidate)] {
            visited[Int(candidate)] = false
            candidate = queue.newer(than: candidate)
            if candidate == KeyQueue.none { candidate = queue.tail }
        }
        hand = queue.newer(than: candidate)
        queue.remove(candidate)
    }
}

/// W-TinyLFU without Caffeine's adaptive window: window 1%, probation 20% and protected 80% of the rest.
package struct WTinyLFUReference: OnlineReplayPolicy {
    package let capacity: Int
    private let windowCapacity: Int
    private let protectedCapacity: Int
    private var window: KeyQueue
    private var probation: KeyQueue
    private var protected: KeyQueue
    private var sketch: FrequencySketch

    package init(capacity: Int, keyCount: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        windowCapacity = max(1, capacity / 100)
        protectedCapacity = (capacity - windowCapacity) * 8 / 10
        window = KeyQueue(keyCount: keyCount)
        probation = KeyQueue(keyCount: keyCount)
        protected = KeyQueue(keyCount: keyCount)
        sketch = FrequencySketch(capacity: capacity)
    }

    package mutating func read(_ key: Int32, at position: Int) -> Bool {
        sketch.increment(key)
        if window.contains(key) {
            window.moveToHead(key)
        } else if protected.contains(key) {
            protected.moveToHead(key)
        } else if probation.contains(key) {
            probation.remove(key)
            protected.pushHead(key)
            if protected.count > protectedCapacity { probation.pushHead(protected.popTail()) }
        } else {
            insert(key)
            return false
        }
        return true
    }

    package mutating func write(_ key: Int32, at position: Int) {
        if !window.contains(key) && !probation.contains(key) && !protected.contains(key) { insert(key) }
    }

    private mutating func insert(_ key: Int32) {
        window.pushHead(key)
        guard window.count > windowCapacity else { return }
        let candidate = window.popTail()
        if window.count + probation.count + protected.count < capacity {
            probation.pushHead(candidate)
            return
        }
        let victim = probation.count > 0 ? probation.tail : protected.tail
        if sketch.frequency(candidate) > sketch.frequency(victim) {
            if probation.contains(victim) { probation.remove(victim) } else { protected.remove(victim) }
            probation.pushHead(candidate)
        }
    }
}

/// Count-min sketch of 4-bit counters, four rows, halved after 10 x capacity increments (TinyLFU's reset).
struct FrequencySketch {
    private var counters: [UInt8]
    private let mask: UInt64
    private let sampleSize: Int
    private var additions = 0

    init(capacity: Int) {
        var width = 16
        while width < capacity * 2 { width <<= 1 }
        counters = Array(repeating: 0, count: width * 4)
        mask = UInt64(width - 1)
        sampleSize = 10 * capacity
    }

    private func slot(_ key: Int32, row: Int) -> Int {
        let hash = SplitMix64.mix(UInt64(UInt32(bitPattern: key)) &+ UInt64(row) &* 0x9E37_79B9_7F4A_7C15)
        return row * Int(mask + 1) + Int(hash & mask)
    }

    func frequency(_ key: Int32) -> UInt8 {
        (0..<4).map { counters[slot(key, row: $0)] }.min()!
    }

    mutating func increment(_ key: Int32) {
        for row in 0..<4 {
            let index = slot(key, row: row)
            if counters[index] < 15 { counters[index] += 1 }
        }
        additions += 1
        if additions >= sampleSize {
            for index in counters.indices { counters[index] >>= 1 }
            additions /= 2
        }
    }
}
