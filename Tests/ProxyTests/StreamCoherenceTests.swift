import DynamoWire
import Foundation
import NIOCore
import Proxy
import Testing

/// What stream records, the stream gate and positioning do to the caches, step by step against a scripted
/// storage server and a manual clock. The wall clock of the records is `wallBase` plus the manual clock.
@Suite struct StreamCoherenceTests {
    static let getA = #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#
    static let itemA1 = #"{"id":{"S":"a"},"v":{"N":"1"}}"#
    static let itemA2 = #"{"id":{"S":"a"},"v":{"N":"2"}}"#
    static let itemA3 = #"{"id":{"S":"a"},"v":{"N":"3"}}"#
    static let query =
        #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}}}"#
    static let page = #"{"Items":[{"id":{"S":"a"},"v":{"N":"1"}}],"Count":1,"ScannedCount":1}"#
    static let wallBase = 1_800_000_000.0

    /// Alice's requests reach the database whose stream is followed (the follower signs with her key).
    private func fixture(_ scope: StreamScope = .all) -> ProxyFixture {
        ProxyFixture(
            configuration: ProxyConfiguration(shards: 4, streams: scope),
            streamNamespace: Namespace(value: "ALICE/us-east-1"))
    }

    /// Time passes and the follower stays current.
    private func later(_ f: ProxyFixture, seconds: UInt64) {
        f.clock.advance(seconds: seconds)
        f.proxy.streamCurrent("users", asOf: f.clock.read())
    }

    private func wallNow(_ f: ProxyFixture) -> Double { Self.wallBase + Double(f.clock.read()) / 1e9 }

    private func position(_ f: ProxyFixture, _ view: StreamViewType = .newAndOldImages) {
        f.proxy.streamPositioned("users", keyAttributes: ["id"], viewType: view, at: f.clock.read())
    }

    /// A record of a change made `ago` seconds before now (by the manual clock).
    private func record(_ event: StreamRecord.Event, _ image: String?, ago: Double = 0) -> StreamRecord {
        StreamRecord(
            event: event, keys: ["id": .s("a")],
            newImage: image.map { try! AttributeMap(parsing: ByteBuffer(string: $0)) },
            sequenceNumber: "1", approximateCreation: 0 - ago)
    }

    private func apply(
        _ f: ProxyFixture, _ records: [StreamRecord], _ view: StreamViewType = .newAndOldImages
    ) -> Int {
        let now = wallNow(f)
        let dated = records.map { record in
            var record = record
            record.approximateCreation += now
            return record
        }
        return f.proxy.applyStreamRecords(dated, table: "users", viewType: view, wallNow: now)
    }

    private func fillA(_ f: ProxyFixture, _ item: String = itemA1) {
        let answer = f.call("GetItem", Self.getA)
        f.storage.answer(#"{"Item":"# + item + "}")
        precondition(answer.status == "miss")
    }

    private func read(_ f: ProxyFixture) -> Answer {
        f.call("GetItem", Self.getA)
    }

    // MARK: The gate

    @Test func aFollowedTableIsNotCachedUntilItsFollowerIsPositioned() {
        let f = fixture()
        for _ in 0..<2 {
            let answer = read(f)
            f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
            #expect(answer.status == "bypass")
        }
        position(f)
        fillA(f)
        #expect(read(f).status == "hit")
        #expect(f.checkInvariants().isEmpty)
    }

    @Test func tablesOutsideTheScopeAreCachedAsWithoutStreams() {
        let f = fixture(.tables(["other"]))
        fillA(f)
        #expect(read(f).status == "hit")
    }

    @Test func aFollowerThatFallsBehindClosesTheGateUntilItIsCurrent() {
        let f = fixture()
        position(f)
        fillA(f)
        f.clock.advance(seconds: 6)  // past the 5 s default lag, with no word from the follower
        let late = read(f)
        #expect(late.isDone == false, "answered from the storage server, not from memory")
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(late.status == "bypass")
        f.proxy.streamCurrent("users", asOf: f.clock.read())
        #expect(read(f).status == "hit")
    }

    @Test func aFillThatBeganBeforePositioningIsNeverServed() {
        let f = fixture()
        position(f)
        let before = read(f)  // reads before the (new) position...
        f.proxy.streamLost("users")
        position(f)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")  // ...and lands after it
        #expect(before.status == "miss")
        #expect(read(f).isDone == false, "dropped: a write between its read and the position would be missed")
    }

    @Test func positioningDropsWhatWasCachedAndLosingThePlaceForgetsTheTable() {
        let f = fixture()
        position(f)
        fillA(f)
        position(f)
        #expect(read(f).isDone == false)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(read(f).status == "hit")
        f.proxy.streamLost("users")
        let lost = read(f)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(lost.status == "bypass")
    }

    @Test func aTableWithoutAStreamIsCachedByTTLAlone() {
        let f = fixture()
        f.proxy.streamNotFollowed("users")
        fillA(f)
        f.clock.advance(seconds: 60)
        #expect(read(f).status == "hit")
    }

    // MARK: Records

    @Test func aRecordRefreshesAnEntryStoredWellBeforeTheChange() {
        let f = fixture()
        position(f)
        fillA(f)
        later(f, seconds: 3)
        #expect(apply(f, [record(.modify, Self.itemA2, ago: 0.5)]) == 0)
        let after = read(f)
        #expect(after.status == "hit")
        #expect(after.json == json(#"{"Item":"# + Self.itemA2 + "}"))
        later(f, seconds: 2)
        _ = apply(f, [record(.remove, nil, ago: 0.5)])
        let removed = read(f)
        #expect(removed.status == "hit")
        #expect(removed.body == "{}")
        #expect(f.checkInvariants().isEmpty)
    }

    @Test func aRecordThatCannotBeOrderedAgainstTheEntryEvictsIt() {
        let f = fixture()
        f.clock.advance(seconds: 10)
        position(f)
        fillA(f)
        // Made within the clock margin of the fill: the fill may have read after it.
        _ = apply(f, [record(.modify, Self.itemA2, ago: 0)])
        #expect(read(f).isDone == false)
    }

    @Test func aRecordOlderThanAWriteThroughThisNodeNeverReplacesIt() {
        let f = fixture()
        position(f)
        fillA(f)
        later(f, seconds: 3)
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA3 + "}")
        f.storage.answer("{}")
        #expect(write.status == "write")
        // Another writer's change, made before this node's write, arrives after it.
        _ = apply(f, [record(.modify, Self.itemA2, ago: 1)])
        let after = read(f)
        if after.isDone {
            #expect(after.json == json(#"{"Item":"# + Self.itemA3 + "}"))
        } else {
            f.storage.answer(#"{"Item":"# + Self.itemA3 + "}")
            #expect(after.json == json(#"{"Item":"# + Self.itemA3 + "}"))
        }
    }

    @Test func recordsOfThisNodesOwnWritesChangeNothing() {
        let f = fixture()
        position(f)
        let page = f.call("Query", Self.query)
        f.storage.answer(Self.page)
        #expect(page.status == "miss")
        let write = f.call("PutItem", #"{"TableName":"users","Item":{"v":{"N":"3"},"id":{"S":"a"}}}"#)
        f.storage.answer("{}")
        #expect(write.status == "write")
        let refill = f.call("Query", Self.query)
        f.storage.answer(Self.page.replacingOccurrences(of: #""N":"1""#, with: #""N":"3""#))
        #expect(refill.status == "miss")
        // The record lists the attributes in another order: the same item.
        #expect(apply(f, [record(.modify, Self.itemA3)]) == 1)
        #expect(read(f).status == "hit")
        #expect(f.call("Query", Self.query).status == "hit", "its pages were staled by the write already")
        // A second record for the key is another writer's: it applies.
        #expect(apply(f, [record(.modify, Self.itemA3)]) == 0)
        #expect(f.call("Query", Self.query).isDone == false)
    }

    @Test func aRecordArrivingDuringAFillDiscardsTheFill() {
        let f = fixture()
        position(f)
        let reading = read(f)  // the fill reads the old item...
        f.clock.advance(seconds: 2)
        _ = apply(f, [record(.modify, Self.itemA2, ago: 0.1)])  // ...another writer changes it...
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")  // ...and the old read lands
        #expect(reading.status == "miss")
        #expect(read(f).isDone == false, "the fill that read before the change must not be stored")
    }

    @Test func aRecordArrivingDuringAWriteThroughThisNodeLeavesTheKeyEmpty() {
        let f = fixture()
        position(f)
        fillA(f)
        later(f, seconds: 3)
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA3 + "}")
        _ = apply(f, [record(.modify, Self.itemA2, ago: 0.5)])  // ordered against neither
        f.storage.answer("{}")
        #expect(write.status == "write")
        #expect(read(f).isDone == false)
    }

    @Test func aRecordForAKeyNobodyCachedAddsNothing() {
        let f = fixture()
        position(f)
        f.clock.advance(seconds: 3)
        _ = apply(f, [record(.insert, Self.itemA2)])
        #expect(read(f).isDone == false)
        #expect(f.proxy.itemCacheStats().entries == 0)
    }

    @Test(arguments: [StreamViewType.keysOnly, .oldImage])
    func recordsWithoutNewImagesEvict(_ view: StreamViewType) {
        let f = fixture()
        position(f, view)
        fillA(f)
        later(f, seconds: 3)
        _ = apply(f, [record(.modify, nil, ago: 1)], view)
        #expect(read(f).isDone == false)
    }

    @Test func aRecordStalesItsPartitionsPages() {
        let f = fixture()
        position(f)
        let page = f.call("Query", Self.query)
        f.storage.answer(Self.page)
        #expect(page.status == "miss")
        let other =
            #"{"TableName":"users","KeyConditionExpression":"id = :b","ExpressionAttributeValues":{":b":{"S":"b"}}}"#
        let otherPage = f.call("Query", other)
        f.storage.answer(#"{"Items":[],"Count":0,"ScannedCount":0}"#)
        #expect(otherPage.status == "miss")
        _ = apply(f, [record(.modify, Self.itemA2)])
        #expect(f.call("Query", Self.query).isDone == false)
        f.storage.answer(Self.page)
        #expect(f.call("Query", other).status == "hit", "another partition's page stays")
    }

    @Test func aWriteFromBeforeTheFollowersPositionIsNeverTakenForOneOfItsRecords() {
        let f = fixture()
        position(f)
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA2 + "}")
        f.storage.answer("{}")
        #expect(write.status == "write")
        // The follower loses its place; another writer's changes in between are never delivered. Later, a
        // change that leaves the item as this node's write did must still apply.
        f.proxy.streamLost("users")
        position(f)
        fillA(f, Self.itemA3)
        later(f, seconds: 3)
        #expect(apply(f, [record(.modify, Self.itemA2, ago: 0.5)]) == 0)
        let after = read(f)
        #expect(after.json == json(#"{"Item":"# + Self.itemA2 + "}"))
    }

    @Test func withCallersOwnSignaturesOnlyTheFollowersNamespaceIsRefreshedOrRecognised() {
        let f = fixture()
        position(f)
        let bobGet = f.call("GetItem", Self.getA, as: ProxyFixture.bob)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(bobGet.status == "miss")
        later(f, seconds: 3)
        // Bob's key may reach another account's table of that name: his entry is dropped, never refreshed.
        _ = apply(f, [record(.modify, Self.itemA2, ago: 0.5)])
        later(f, seconds: 3)
        #expect(f.call("GetItem", Self.getA, as: ProxyFixture.bob).isDone == false)
        f.storage.answer(#"{"Item":"# + Self.itemA2 + "}")
        // And his writes are not taken for records of the followed database.
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA3 + "}", as: ProxyFixture.bob)
        f.storage.answer("{}")
        #expect(write.status == "write")
        #expect(apply(f, [record(.modify, Self.itemA3)]) == 0)
    }

    @Test func aFillThatBeginsJustAfterAChangeIsAnsweredButNotStored() {
        let f = fixture()
        position(f)
        later(f, seconds: 3)
        _ = apply(f, [record(.modify, Self.itemA2, ago: 0.2)])
        // An eventually consistent read this soon may come from a replica that has not seen the change.
        let soon = read(f)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(soon.status == "miss")
        #expect(read(f).isDone == false, "not stored")
        f.storage.answer(#"{"Item":"# + Self.itemA2 + "}")
        later(f, seconds: 2)
        fillA(f, Self.itemA2)
        #expect(read(f).status == "hit")
    }

    @Test func pagesOfTheChangedPartitionAreFencedAndOthersAreNot() {
        let f = fixture()
        position(f)
        later(f, seconds: 3)
        _ = apply(f, [record(.modify, Self.itemA2, ago: 0.2)])
        let changed = f.call("Query", Self.query)
        f.storage.answer(Self.page)
        #expect(changed.status == "bypass")
        let other =
            #"{"TableName":"users","KeyConditionExpression":"id = :b","ExpressionAttributeValues":{":b":{"S":"b"}}}"#
        let otherPage = f.call("Query", other)
        f.storage.answer(#"{"Items":[],"Count":0,"ScannedCount":0}"#)
        #expect(otherPage.status == "miss")
        #expect(f.call("Query", other).status == "hit")
        let scan = f.call("Scan", #"{"TableName":"users"}"#)
        f.storage.answer(Self.page)
        #expect(scan.status == "bypass", "a scan may hold the changed item")
    }
}
