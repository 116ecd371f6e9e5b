import CacheCore
import Testing

/// Random operations checked against a plain model of what may be served, with the invariants checked after
/// each step. The model is the freshness rule itself: a value served must be the last one acknowledged.
@Suite struct CacheStoreModelTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func randomOperationsNeverServeStaleOrBreakInvariants(seed: UInt64) {
        var random = SplitMix(state: seed)
        let store = makeStore(capacity: 600, shards: 2, maxEntry: 80, overhead: 16)
        var truth: [Int: String] = [:]  // the storage server
        var fills: [(key: TestKey, ticket: FillTicket, value: String)] = []
        var writes: [(key: TestKey, ticket: WriteTicket, value: String?)] = []
        var now: UInt64 = 0
        for step in 0..<5_000 {
            now += UInt64.random(in: 0...3, using: &random)
            let key = TestKey(id: Int.random(in: 0..<20, using: &random))
            switch Int.random(in: 0..<8, using: &random) {
            case 0, 1:  // a read: a hit must equal the truth unless a write to that key is still unacknowledged
                if let value = store.get(key, now: now) {
                    let pending = writes.contains { $0.key == key }
                    #expect(pending || value == truth[key.id] ?? "-", "step \(step): stale \(value)")
                }
            case 2:  // a miss starts a fill that reads the storage server now and lands later
                if case .miss(let ticket) = store.lookup(key, now: now) {
                    fills.append((key, ticket, truth[key.id] ?? "-"))
                }
            case 3:  // a write starts
                let value = Int.random(in: 0..<4, using: &random) == 0 ? nil : "v\(step)"
                writes.append((key, store.beginWrite(key), value))
            case 4:  // the storage server applies and acknowledges a pending write
                if !writes.isEmpty {
                    let write = writes.remove(at: Int.random(in: 0..<writes.count, using: &random))
                    truth[write.key.id] = write.value
                    store.completeWrite(
                        write.key,
                        ticket: write.ticket,
                        value: write.value ?? "-",
                        weight: 8,
                        expiresAt: now + 50
                    )
                }
            case 5, 6:  // a fill lands
                if !fills.isEmpty {
                    let fill = fills.remove(at: Int.random(in: 0..<fills.count, using: &random))
                    store.completeFill(
                        fill.key,
                        ticket: fill.ticket,
                        value: fill.value,
                        weight: fill.value.utf8.count * 10,
                        expiresAt: now + 50
                    )
                }
            default:
                if Bool.random(using: &random) {
                    store.invalidate(key)
                } else {
                    store.sweep(now: now, examinePerShard: 4)
                }
            }
            let problems = store.validate()
            #expect(problems.isEmpty, "step \(step): \(problems)")
            if !problems.isEmpty { return }
        }
    }

    @Test func concurrentUseFromManyThreadsKeepsInvariants() async {
        let store = makeStore(capacity: 50_000, shards: 4, maxEntry: 200, overhead: 16)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var random = SplitMix(state: UInt64(worker))
                    for step in 0..<20_000 {
                        let key = TestKey(id: Int.random(in: 0..<500, using: &random))
                        switch step % 4 {
                        case 0: fill(store, key, "value-\(step)", now: UInt64(step))
                        case 1: _ = store.get(key, now: UInt64(step))
                        case 2:
                            let ticket = store.beginWrite(key)
                            store.completeWrite(
                                key, ticket: ticket, value: "w", weight: 1, expiresAt: UInt64(step + 100))
                        default: store.invalidate(key)
                        }
                    }
                }
            }
        }
        #expect(store.validate().isEmpty)
    }
}
