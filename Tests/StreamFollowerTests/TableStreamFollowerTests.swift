import DynamoWire
import Logging
import NIOCore
import StreamFollower
import Synchronization
import Testing

/// The follower, round by round, against FakeStreams and a manual clock: it never sleeps.
@Suite struct TableStreamFollowerTests {
    final class Clock: Sendable {
        let now = Atomic<UInt64>(1_000_000_000)
        func advance(milliseconds: UInt64) { now.add(milliseconds * 1_000_000, ordering: .relaxed) }
    }

    struct Fixture {
        let streams = FakeStreams()
        let delegate = RecordingDelegate()
        let clock = Clock()
        let follower: TableStreamFollower

        init(configuration: StreamFollowerConfiguration = StreamFollowerConfiguration(recordLimit: 1000)) {
            let clock = clock
            follower = TableStreamFollower(
                table: "t", api: streams, delegate: delegate, configuration: configuration,
                logger: Logger(label: "test"), clock: { clock.now.load(ordering: .relaxed) }, wallClock: { 0 })
        }

        /// Runs rounds until the follower is current (or has nothing to follow) and waits for the next poll, at
        /// most `limit`; returns that wait.
        @discardableResult
        func settle(limit: Int = 20) async -> UInt64 {
            for _ in 0..<limit {
                let wait = await follower.step()
                let resting =
                    follower.isCurrent || follower.isFinished || follower.status.state == .notFollowed
                if wait > 0 && resting { return wait }
            }
            Issue.record("the follower never settled")
            return 0
        }
    }

    @Test func itPositionsAtTheLatestRecordAndHandsOverLaterOnesInOrder() async {
        let f = Fixture()
        f.streams.write("a", 1)  // before the position: never handed over
        await f.settle()
        #expect(
            f.delegate.events.withLock { $0.first } == .positioned(keys: ["pk"], view: .newAndOldImages))
        f.streams.write("a", 2)
        f.streams.write("b", 3)
        f.clock.advance(milliseconds: 250)
        let wait = await f.settle()
        #expect(wait == 250_000_000)
        #expect(f.delegate.values == [2, 3])
        #expect(f.delegate.events.withLock { $0.last } == .current(1_250_000_000))
        #expect(f.follower.status.recordsApplied == 2)
    }

    @Test func aShardWithMoreRecordsThanOneCallIsReadAgainAtOnceAndOnlyThenCurrent() async {
        let f = Fixture(configuration: StreamFollowerConfiguration(recordLimit: 2))
        await f.settle()
        f.delegate.clear()
        for value in 1...5 { f.streams.write("a", value) }
        #expect(await f.follower.step() == 250_000_000, "no shard is read more often than once a poll interval")
        #expect(!f.follower.isCurrent)
        #expect(f.delegate.count { if case .current = $0 { true } else { false } } == 0)
        await f.settle()
        #expect(f.delegate.values == [1, 2, 3, 4, 5])
        #expect(f.delegate.count { if case .current = $0 { true } else { false } } == 1)
    }

    @Test func aSplitShardsChildrenAreReadOnlyAfterItsLastRecord() async {
        let f = Fixture()
        await f.settle()
        f.streams.write("a", 1)
        f.streams.write("b", 2)
        f.streams.split("shard-1", into: ["shard-2", "shard-3"])
        f.streams.write("a", 3, shard: "shard-2")
        f.streams.write("b", 4, shard: "shard-3")
        await f.settle()
        #expect(f.delegate.values == [1, 2, 3, 4])
        #expect(f.follower.status.shards == 2)
        #expect(f.delegate.count { $0 == .lost } == 0)
        // The grandchildren of a rolled-over child follow the same way.
        f.streams.split("shard-2", into: ["shard-4"])
        f.streams.write("a", 5, shard: "shard-4")
        await f.settle()
        #expect(f.delegate.values == [1, 2, 3, 4, 5])
    }

    @Test func aGrandchildFoundWithItsParentWaitsForIt() async {
        let f = Fixture()
        await f.settle()
        f.streams.write("a", 1)
        f.streams.split("shard-1", into: ["z-child"])
        f.streams.write("a", 2, shard: "z-child")
        f.streams.split("z-child", into: ["a-grandchild"])  // listed, and sorted, before its parent
        f.streams.write("a", 3, shard: "a-grandchild")
        await f.settle()
        #expect(f.delegate.values == [1, 2, 3])
    }

    @Test func theTableIsNotCurrentWhileAClosedShardsChildrenAreNotListed() async {
        let f = Fixture()
        await f.settle()
        f.delegate.clear()
        f.streams.write("a", 1)
        f.streams.split("shard-1", into: ["shard-2"])
        f.streams.state.withLock { $0.unlisted = ["shard-2"] }
        f.streams.write("a", 2, shard: "shard-2")
        for _ in 0..<3 { _ = await f.follower.step() }
        #expect(f.delegate.values == [1])
        #expect(f.delegate.count { if case .current = $0 { true } else { false } } == 0)
        f.streams.state.withLock { $0.unlisted = [] }
        await f.settle()
        #expect(f.delegate.values == [1, 2])
        #expect(f.delegate.count { if case .current = $0 { true } else { false } } == 1)
    }

    @Test func aPageOfOldRecordsIsABacklogNotTheEnd() async {
        let f = Fixture()
        await f.settle()
        f.delegate.clear()
        f.streams.write("a", 1, at: -60)  // made a minute ago (the follower's wall clock reads 0)
        _ = await f.follower.step()
        #expect(!f.follower.isCurrent, "read again before counting it current")
        #expect(f.delegate.count { if case .current = $0 { true } else { false } } == 0)
        await f.settle()
        #expect(f.delegate.count { if case .current = $0 { true } else { false } } == 1)
    }

    @Test func aTableThatDoesNotExistStopsItsFollower() async {
        let f = Fixture()
        f.streams.state.withLock { $0.tableExists = false }
        _ = await f.follower.step()
        #expect(f.follower.isFinished)
        #expect(f.follower.status.state == .missing)
        #expect(f.delegate.events.withLock { $0.isEmpty }, "the caller tells the delegate, once the follower is gone")
    }

    @Test func anExpiredIteratorIsRenewedAfterTheLastRecordWithoutLossOrRepeat() async {
        let f = Fixture()
        await f.settle()
        f.streams.write("a", 1)
        await f.settle()
        f.streams.write("a", 2)
        f.streams.expireIterators()
        await f.settle()
        #expect(f.delegate.values == [1, 2])
        #expect(f.delegate.count { $0 == .lost } == 0)
        #expect(f.streams.calls.contains("GetShardIterator"))
    }

    @Test func anIteratorThatExpiresBeforeAnyRecordIsALostPlace() async {
        let f = Fixture()
        await f.settle()
        f.streams.expireIterators()
        await f.settle()
        #expect(f.delegate.count { $0 == .lost } == 1)
        #expect(f.follower.status.flushes[.expiredIterator] == 1)
        #expect(f.delegate.count { if case .positioned = $0 { true } else { false } } == 2, "positioned again")
    }

    @Test func trimmedRecordsAreALostPlaceAndTheFollowerPositionsAgain() async {
        let f = Fixture()
        await f.settle()
        f.streams.write("a", 1)
        f.streams.write("a", 2)
        f.streams.trim("shard-1", before: 2)
        await f.settle()
        #expect(f.delegate.count { $0 == .lost } == 1)
        #expect(f.follower.status.flushes[.trimmed] == 1)
        #expect(f.delegate.values.isEmpty)
        f.streams.write("a", 3)
        await f.settle()
        #expect(f.delegate.values == [3])
    }

    @Test func throttlingBacksOffDoublingAndTheFollowerIsNotCurrentMeanwhile() async {
        let f = Fixture()
        await f.settle()
        f.delegate.clear()
        f.streams.fail(.getRecords, with: "LimitExceededException", times: 3)
        f.streams.fail(.getRecords, with: "ProvisionedThroughputExceededException", times: 2)
        var waits: [UInt64] = []
        for _ in 0..<5 { waits.append(await f.follower.step()) }
        #expect(waits == [250_000_000, 500_000_000, 1_000_000_000, 2_000_000_000, 4_000_000_000])
        #expect(f.follower.status.state == .backingOff)
        #expect(f.follower.status.errors[.throttled] == 5)
        #expect(f.delegate.events.withLock { $0.isEmpty })
        f.streams.write("a", 1)
        #expect(await f.follower.step() == 250_000_000)
        #expect(f.delegate.values == [1])
        #expect(f.follower.status.state == .following)
    }

    @Test func theBackOffStopsAtItsLimit() async {
        let f = Fixture()
        await f.settle()
        f.streams.fail(.getRecords, with: "ThrottlingException", times: 8)
        var last: UInt64 = 0
        for _ in 0..<8 { last = await f.follower.step() }
        #expect(last == 5_000_000_000)
        #expect(f.follower.status.errors[.throttled] == 8)
        #expect(f.delegate.count { $0 == .lost } == 0, "throttling alone never loses the place")
    }

    @Test func callsThatKeepFailingMakeTheFollowerPositionAgain() async {
        let f = Fixture()
        await f.settle()
        f.streams.fail(.getRecords, with: "InternalServerError", times: 5)
        for _ in 0..<4 { _ = await f.follower.step() }
        #expect(f.delegate.count { $0 == .lost } == 0)
        #expect(await f.follower.step() > 0, "the fifth failure loses the place, still backing off")
        await f.settle()
        #expect(f.follower.status.flushes[.unreadable] == 1)
        #expect(f.follower.status.errors[.serverError] == 5)
        #expect(f.delegate.count { if case .positioned = $0 { true } else { false } } == 2)
    }

    @Test func aStreamDisabledMidRunIsALostPlaceAndTheTableIsNoLongerFollowed() async {
        let f = Fixture(configuration: StreamFollowerConfiguration(describeInterval: 1_000_000_000))
        await f.settle()
        f.streams.state.withLock { $0.stream = nil }
        f.clock.advance(milliseconds: 1_500)
        await f.settle()
        #expect(f.follower.status.flushes[.streamDisabled] == 1)
        #expect(f.delegate.events.withLock { Array($0.suffix(2)) } == [.lost, .notFollowed])
        #expect(f.follower.status.state == .notFollowed)
    }

    @Test func aReplacedStreamIsALostPlaceAndTheNewOneIsFollowed() async {
        let f = Fixture(configuration: StreamFollowerConfiguration(describeInterval: 1_000_000_000))
        await f.settle()
        f.streams.state.withLock { state in
            state.stream = ("arn:stream/2", .keysOnly)
            state.shards = [FakeStreams.Shard(id: "new-1")]
        }
        f.clock.advance(milliseconds: 1_500)
        await f.settle()
        #expect(f.follower.status.flushes[.streamReplaced] == 1)
        #expect(f.delegate.events.withLock { $0.last } == .positioned(keys: ["pk"], view: .keysOnly))
        f.streams.write("a", 1, shard: "new-1")
        await f.settle()
        #expect(f.delegate.values == [1])
    }

    @Test func aShardThatDescendsFromNoKnownShardIsAGap() async {
        let f = Fixture()
        await f.settle()
        f.streams.state.withLock { state in
            state.shards[0].closed = true
            state.shards.append(FakeStreams.Shard(id: "orphan", parent: "never-seen"))
        }
        await f.settle()
        #expect(f.follower.status.flushes[.shardGap] == 1)
    }

    @Test func aTableWithoutAStreamIsNotFollowedUntilOneIsEnabled() async {
        let f = Fixture(configuration: StreamFollowerConfiguration(describeInterval: 1_000_000_000))
        f.streams.state.withLock { $0.stream = nil }
        #expect(await f.follower.step() == 1_000_000_000)
        #expect(f.delegate.events.withLock { $0 } == [.notFollowed])
        f.streams.state.withLock { $0.stream = ("arn:stream/1", .newImage) }
        await f.settle()
        #expect(f.delegate.events.withLock { $0.last } == .positioned(keys: ["pk"], view: .newImage))
    }

    @Test func callsThatCannotBeSignedNameWhatIsMissing() async {
        struct Unsigned: StreamsAPI {
            func send(_ operation: StreamsOperation, body: ByteBuffer) async throws(StreamsCallError)
                -> StreamsAnswer
            {
                throw StreamsCallError(.noCredentials, description: "no AWS credentials found: AWS_ACCESS_KEY_ID")
            }
        }
        let follower = TableStreamFollower(
            table: "t", api: Unsigned(), delegate: RecordingDelegate(), configuration: StreamFollowerConfiguration(),
            logger: Logger(label: "test"), clock: { 0 }, wallClock: { 0 })
        _ = await follower.step()
        #expect(follower.status.errors[.noCredentials] == 1)
        #expect(follower.status.lastError?.contains("AWS_ACCESS_KEY_ID") == true)
    }
}
