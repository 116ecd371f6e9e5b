import Foundation
import NIOCore
import Proxy
import Testing

/// The query cache's decisions, step by step against a scripted storage server.
@Suite struct QueryCacheTests {
    static let query =
        #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}}}"#
    static let page1 = #"{"Items":[{"id":{"S":"a"},"v":{"N":"1"}}],"Count":1,"ScannedCount":1}"#
    static let page2 = #"{"Items":[{"id":{"S":"a"},"v":{"N":"2"}}],"Count":1,"ScannedCount":1}"#

    private func fill(_ f: ProxyFixture, _ body: String = query, operation: String = "Query", answer: String = page1) {
        let miss = f.call(operation, body)
        f.storage.answer(answer)
        precondition(miss.status == "miss")
    }

    @Test func aPageIsServedFromMemoryWhateverTheSpellingOfTheRequest() {
        let f = ProxyFixture()
        fill(f)
        let respelled = f.call(
            "Query",
            #" { "ExpressionAttributeValues" : { ":a" : { "S" : "a" } }, "KeyConditionExpression" : "id = :a", "TableName" : "users" } "#
        )
        #expect(respelled.status == "hit")
        #expect(respelled.body == Self.page1)
        #expect(f.storage.sent.count == 1)
        #expect(f.checkInvariants().isEmpty)
    }

    @Test func requestMembersThatChangeTheAnswerAreDifferentEntries() {
        let f = ProxyFixture()
        fill(f)
        for variant in [
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"b"}}}"#,
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}},"Limit":1}"#,
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}},"ScanIndexForward":false}"#,
            #"{"TableName":"users","IndexName":"byV","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}}}"#,
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}},"ExclusiveStartKey":{"id":{"S":"a"}}}"#,
        ] {
            let answer = f.call("Query", variant)
            #expect(answer.isDone == false, "\(variant) must be its own entry")
            f.storage.answer(Self.page2)
        }
        // A Scan of the same table is another operation; segments are different pages.
        #expect(f.call("Scan", #"{"TableName":"users","Segment":0,"TotalSegments":2}"#).isDone == false)
        f.storage.answer(Self.page1)
        #expect(f.call("Scan", #"{"TableName":"users","Segment":1,"TotalSegments":2}"#).isDone == false)
        f.storage.answer(Self.page2)
        #expect(f.call("Scan", #"{"TableName":"users","Segment":0,"TotalSegments":2}"#).status == "hit")
    }

    @Test func consumedCapacityIsNotPartOfTheKeyAndAHitConsumesNothing() {
        let f = ProxyFixture()
        let withCapacity =
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}},"ReturnConsumedCapacity":"TOTAL"}"#
        let miss = f.call("Query", withCapacity)
        f.storage.answer(
            #"{"Items":[],"Count":0,"ScannedCount":0,"ConsumedCapacity":{"TableName":"users","CapacityUnits":0.5}}"#)
        #expect(miss.json?["ConsumedCapacity"] != nil)
        let plain = f.call("Query", Self.query)
        #expect(plain.status == "hit")
        #expect(plain.json == json(#"{"Items":[],"Count":0,"ScannedCount":0}"#))
        let asked = f.call("Query", withCapacity)
        #expect(asked.status == "hit")
        #expect(
            (asked.json?["ConsumedCapacity"] as? NSDictionary) == json(#"{"TableName":"users","CapacityUnits":0.0}"#))
    }

    @Test func everyWriteKindToAPartitionMakesItsPagesStale() {
        for write in [
            ("PutItem", #"{"TableName":"users","Item":{"id":{"S":"a"}}}"#),
            (
                "UpdateItem",
                #"{"TableName":"users","Key":{"id":{"S":"a"}},"UpdateExpression":"SET v = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}"#
            ),
            ("DeleteItem", #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#),
            ("BatchWriteItem", #"{"RequestItems":{"users":[{"DeleteRequest":{"Key":{"id":{"S":"a"}}}}]}}"#),
            ("TransactWriteItems", #"{"TransactItems":[{"Delete":{"TableName":"users","Key":{"id":{"S":"a"}}}}]}"#),
            ("ExecuteStatement", #"{"Statement":"DELETE FROM users WHERE id = 'a'"}"#),
        ] {
            let f = ProxyFixture()
            fill(f)
            let index =
                #"{"TableName":"users","IndexName":"byV","KeyConditionExpression":"v = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}"#
            fill(f, index)
            #expect(f.call("Query", Self.query).status == "hit")
            let done = f.call(write.0, write.1)
            f.storage.answer(write.0 == "BatchWriteItem" ? #"{"UnprocessedItems":{}}"# : "{}")
            #expect(done.status == "write")
            #expect(f.call("Query", Self.query).isDone == false, "\(write.0) must make the partition's pages stale")
            f.storage.answer(Self.page2)
            #expect(f.call("Query", index).isDone == false, "\(write.0) must make the index's pages stale too")
            f.storage.answer(Self.page2)
            #expect(f.call("Query", Self.query).status == "hit")
        }
    }

    @Test func aWriteToAnotherPartitionLeavesABaseTableQueryButNotScans() {
        let f = ProxyFixture()
        fill(f)
        let scan = #"{"TableName":"users"}"#
        fill(f, scan, operation: "Scan")
        let other = f.call(
            "UpdateItem",
            #"{"TableName":"users","Key":{"id":{"S":"b"}},"UpdateExpression":"SET v = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}"#
        )
        f.storage.answer("{}")
        #expect(other.isDone)
        #expect(f.call("Query", Self.query).status == "hit", "partition a was not written")
        #expect(f.call("Scan", scan).isDone == false, "a scan reads every partition")
        f.storage.answer(Self.page2)
        let same = f.call("DeleteItem", #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#)
        f.storage.answer("{}")
        #expect(same.isDone)
        #expect(f.call("Query", Self.query).isDone == false, "partition a was written")
    }

    @Test func aPutWhoseKeyIsUnknownStalesEveryPartition() {
        let f = ProxyFixture()
        fill(f)
        // No key schema known for "users": the proxy cannot tell which partition the item is in.
        let put = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"S":"b"}}}"#)
        f.storage.answer("{}")
        #expect(put.isDone)
        #expect(f.call("Query", Self.query).isDone == false)
        f.storage.answer(Self.page1)
        // Once the key is known, a put into another partition leaves the page.
        let describe = f.call("DescribeTable", #"{"TableName":"users"}"#)
        f.storage.answer(#"{"Table":{"TableName":"users","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}}"#)
        #expect(describe.isDone)
        let known = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"S":"b"}}}"#)
        f.storage.answer("{}")
        #expect(known.isDone)
        #expect(f.call("Query", Self.query).status == "hit")
        let numeric =
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"N":"1.0"}}}"#
        fill(f, numeric)
        let sameNumber = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"N":"1"}}}"#)
        f.storage.answer("{}")
        #expect(sameNumber.isDone)
        #expect(f.call("Query", numeric).isDone == false, "1 and 1.0 are the same partition")
    }

    @Test func aWriteToAnotherTableLeavesThePages() {
        let f = ProxyFixture()
        fill(f)
        let other = f.call("PutItem", #"{"TableName":"orders","Item":{"id":{"S":"z"}}}"#)
        f.storage.answer("{}")
        #expect(other.isDone)
        #expect(f.call("Query", Self.query).status == "hit")
    }

    @Test func aPageFetchedBeforeAWriteIsNeverStoredAfterIt() {
        let f = ProxyFixture()
        let read = f.call("Query", Self.query)
        let write = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"2"}}}"#)
        f.storage.answer(at: 1, "{}")
        #expect(write.isDone)
        f.storage.answer(at: 0, Self.page1)  // the old page arrives after the write was acknowledged
        #expect(read.body == Self.page1)
        let after = f.call("Query", Self.query)
        #expect(after.isDone == false, "the old page must not have been stored")
        f.storage.answer(Self.page2)
        #expect(after.body == Self.page2)
        #expect(f.call("Query", Self.query).status == "hit")
    }

    @Test func aQueryAfterAnAcknowledgedWriteNeverJoinsAnOlderFetch() {
        let f = ProxyFixture()
        let before = f.call("Query", Self.query)
        let write = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"2"}}}"#)
        f.storage.answer(at: 1, "{}")
        #expect(write.isDone)
        let after = f.call("Query", Self.query)
        #expect(f.storage.pending.count == 2, "it must not wait for the older fetch")
        f.storage.answer(at: 1, Self.page2)
        f.storage.answer(at: 0, Self.page1)
        #expect(before.body == Self.page1)
        #expect(after.body == Self.page2)
    }

    @Test func aKeyGuessedFromAFailedReadIsNotTrustedForPartitions() {
        let f = ProxyFixture()
        // A GetItem naming the wrong key attribute fails, but its names were noted as a candidate schema.
        let wrong = f.call("GetItem", #"{"TableName":"users","Key":{"v":{"N":"1"}}}"#)
        f.storage.answer(
            status: .badRequest,
            #"{"__type":"com.amazon.coral.validate#ValidationException","message":"The provided key element does not match the schema"}"#
        )
        #expect(wrong.code == 400)
        fill(f)
        let put = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"1"}}}"#)
        f.storage.answer("{}")
        #expect(put.isDone)
        #expect(f.call("Query", Self.query).isDone == false, "the put may be in partition a: the page must be stale")
    }

    @Test func identicalConcurrentQueriesShareOneRequest() {
        let f = ProxyFixture()
        let first = f.call("Query", Self.query)
        let second = f.call("Query", Self.query)
        #expect(f.storage.pending.count == 1)
        f.storage.answer(Self.page1)
        #expect(first.body == Self.page1)
        #expect(second.body == Self.page1)
    }

    @Test func pagesAreNotSharedAcrossNamespaces() {
        let f = ProxyFixture()
        fill(f)
        #expect(f.call("Query", Self.query, as: ProxyFixture.bob).isDone == false)
    }

    @Test func stronglyConsistentAndInvalidRequestsGoToTheServer() {
        let f = ProxyFixture()
        fill(f)
        for body in [
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}},"ConsistentRead":true}"#,
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}},"ReturnConsumedCapacity":"SOME"}"#,
            #"{"TableName":"users","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}},"ReturnConsumedCapacity":7}"#,
        ] {
            let answer = f.call("Query", body)
            #expect(answer.isDone == false)
            f.storage.answer(Self.page1)
            #expect(answer.status == "bypass")
        }
    }

    @Test func ttlModeLeavesPagesUntilTheyExpire() {
        let f = ProxyFixture(
            configuration: ProxyConfiguration(shards: 1, queryTTL: 10_000_000_000, queryInvalidation: .ttl))
        fill(f)
        let write = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"2"}}}"#)
        f.storage.answer("{}")
        #expect(write.isDone)
        let stale = f.call("Query", Self.query)
        #expect(stale.status == "hit")  // DAX's documented staleness, chosen by the operator
        #expect(stale.body == Self.page1)
        f.clock.advance(seconds: 10)
        #expect(f.call("Query", Self.query).isDone == false)
    }

    @Test func aZeroTTLTurnsTheQueryCacheOff() {
        let f = ProxyFixture(configuration: ProxyConfiguration(shards: 1, queryTTL: 0))
        let answer = f.call("Query", Self.query)
        f.storage.answer(Self.page1)
        #expect(answer.status == "bypass")
        #expect(f.call("Query", Self.query).isDone == false)
    }

    @Test func tableOperationsAndFlushesDropPages() {
        let f = ProxyFixture()
        fill(f)
        let update = f.call("UpdateTable", #"{"TableName":"users","BillingMode":"PAY_PER_REQUEST"}"#)
        f.storage.answer(#"{"TableDescription":{"TableName":"users"}}"#)
        #expect(update.isDone)
        #expect(f.call("Query", Self.query).isDone == false)
        f.storage.answer(Self.page1)
        f.proxy.flush(table: "users")
        #expect(f.call("Query", Self.query).isDone == false)
    }
}
