import Foundation
import NIOCore
import Proxy
import Testing

/// The item cache's decisions, step by step against a scripted storage server.
@Suite struct ItemCacheTests {
    static let table = "users"
    static let getA = #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#
    static let itemA1 =
        #"{"id":{"S":"a"},"v":{"N":"1"},"m":{"M":{"x":{"S":"deep"},"l":{"L":[{"N":"0"},{"N":"1"},{"N":"2"}]}}}}"#
    static let itemA2 = #"{"id":{"S":"a"},"v":{"N":"2"}}"#

    @Test func aMissFillsAndTheNextReadIsAHitWithTheStoredBytes() {
        let f = ProxyFixture()
        let first = f.call("GetItem", Self.getA)
        #expect(f.storage.pending.count == 1)
        f.storage.answer(#"{"Item": "# + Self.itemA1 + "}")
        #expect(first.status == "miss")
        #expect(first.body == #"{"Item": "# + Self.itemA1 + "}")
        let second = f.call("GetItem", Self.getA)
        #expect(second.status == "hit")
        #expect(second.body == #"{"Item": "# + Self.itemA1 + "}")  // byte for byte what the server sent
        #expect(second.response?.headers.first(name: "x-amz-crc32") == first.response.map { String(crc32($0.body)) })
        #expect(f.storage.sent.count == 1)
        #expect(f.checkInvariants().isEmpty)
    }

    @Test func anEntryIsChargedTheMemoryItKeepsAliveNotJustItsBytes() {
        // A body of about 1,100 bytes lives in NIO storage of 2,048 (the next power of two): that is what counts,
        // with the entry, its key and the store's bookkeeping, so the budget bounds what the process holds.
        let f = ProxyFixture()
        let value = String(repeating: "x", count: 1_060)
        let item = #"{"Item":{"id":{"S":"a"},"v":{"S":"\#(value)"}}}"#
        _ = f.call("GetItem", Self.getA)
        f.storage.answer(item)
        let stats = f.proxy.itemCacheStats()
        #expect(stats.entries == 1)
        #expect(item.utf8.count > 1_024 && item.utf8.count < 1_200)
        #expect(stats.bytes >= 2_048 + 64 + 128, "storage, its object and the entry: \(stats.bytes)")
        #expect(stats.bytes <= 3_072, "\(stats.bytes)")
    }

    @Test func theEntrySizeLimitIsOnAnswersNotOnWhatTheyAreCharged() {
        // With a limit of 4 KiB, an answer of 4,000 bytes is kept though it is charged more (its 4 KiB storage and
        // the entry); one of 5,000 bytes is not.
        let f = ProxyFixture(configuration: ProxyConfiguration(maxItemEntryBytes: 4_096))
        for (key, length, kept) in [("a", 3_950, true), ("b", 4_950, false)] {
            let value = String(repeating: "x", count: length)
            let item = #"{"Item":{"id":{"S":"\#(key)"},"v":{"S":"\#(value)"}}}"#
            _ = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"\#(key)"}}}"#)
            f.storage.answer(item)
            #expect(
                f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"\#(key)"}}}"#).isDone == kept, "\(length)")
            if !kept { f.storage.answer(item) }
        }
        #expect(f.proxy.itemCacheStats().rejectedTooLarge == 2, "b's two fills")
    }

    @Test func aSmallCacheOfLargeAnswersUsesItsWholeBudget() {
        // 16 MiB and answers just over 64 KiB (each charged 128 KiB and a little): in 64 stripes of 256 KiB only one
        // fits per stripe, 64 in all; with stripes sized for the largest answers about 120 fit.
        let f = ProxyFixture(configuration: ProxyConfiguration(itemCacheBytes: 16 << 20, shards: 64))
        let value = String(repeating: "x", count: 66_000)
        for id in 0..<200 {
            _ = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"k\#(id)"}}}"#)
            f.storage.answer(#"{"Item":{"id":{"S":"k\#(id)"},"v":{"S":"\#(value)"}}}"#)
        }
        let stats = f.proxy.itemCacheStats()
        #expect(stats.entries >= 100, "\(stats.entries) entries, \(stats.bytes) bytes")
        #expect(stats.bytes <= 16 << 20)
    }

    @Test func stronglyConsistentReadsAlwaysGoToTheServer() {
        let f = ProxyFixture()
        fillA(f)
        let strong = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"a"}},"ConsistentRead":true}"#)
        #expect(strong.isDone == false)
        f.storage.answer(#"{"Item":"# + Self.itemA2 + "}")
        #expect(strong.status == "bypass")
        #expect(f.call("GetItem", Self.getA).status == "hit")
    }

    @Test func projectionsAreAppliedToTheStoredItem() {
        let f = ProxyFixture()
        // A projected miss fetches the whole item, so that the entry serves every projection.
        let miss = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"a"}},"ProjectionExpression":"v"}"#)
        #expect(f.storage.pending.first?.body == Self.getA)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(miss.json == json(#"{"Item":{"v":{"N":"1"}}}"#))
        let hit = f.call(
            "GetItem",
            ##"{"TableName":"users","Key":{"id":{"S":"a"}},"ProjectionExpression":"#m.l[2], #m.x","ExpressionAttributeNames":{"#m":"m"}}"##
        )
        #expect(hit.status == "hit")
        #expect(hit.json == json(#"{"Item":{"m":{"M":{"x":{"S":"deep"},"l":{"L":[{"N":"2"}]}}}}}"#))
        let none = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"a"}},"AttributesToGet":["nothing"]}"#)
        #expect(none.json == json(#"{"Item":{}}"#))
    }

    @Test func projectionsDynamoDBWouldRejectGoToTheServer() {
        let f = ProxyFixture()
        fillA(f)
        for bad in [
            #""ProjectionExpression":"name""#,  // reserved word
            ##""ProjectionExpression":"#n""##,  // undefined name
            ##""ProjectionExpression":"v","ExpressionAttributeNames":{"#unused":"x"}"##,
            #""ProjectionExpression":"m, m.x""#,  // overlapping paths
            #""ReturnConsumedCapacity":"ALL""#,
        ] {
            let answer = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"a"}},"# + bad + "}")
            #expect(answer.isDone == false, "\(bad) must reach the server")
            f.storage.answer(
                status: .badRequest, #"{"__type":"com.amazon.coral.validate#ValidationException","message":"x"}"#)
            #expect(answer.code == 400)
            #expect(answer.status == "bypass")
        }
    }

    @Test func aHitAnswersZeroConsumedCapacity() {
        let f = ProxyFixture()
        fillA(f)
        let hit = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"a"}},"ReturnConsumedCapacity":"TOTAL"}"#)
        #expect(hit.status == "hit")
        #expect((hit.json?["ConsumedCapacity"] as? NSDictionary) == json(#"{"TableName":"users","CapacityUnits":0.0}"#))
    }

    @Test func entriesAreServedOnlyToTheNamespaceThatFilledThem() {
        let f = ProxyFixture()
        fillA(f)
        let bob = f.call("GetItem", Self.getA, as: ProxyFixture.bob)
        #expect(bob.isDone == false)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(bob.status == "miss")
        #expect(f.call("GetItem", Self.getA, as: ProxyFixture.bob).status == "hit")
        // Bob's fill replaced the entry: Alice misses now; never does one see the other's entry.
        let alice = f.call("GetItem", Self.getA)
        #expect(alice.isDone == false)
    }

    @Test func concurrentMissesShareOneRequest() {
        let f = ProxyFixture()
        let first = f.call("GetItem", Self.getA)
        let second = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"a"}},"ProjectionExpression":"v"}"#)
        #expect(f.storage.pending.count == 1)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        #expect(first.status == "miss")
        #expect(second.status == "miss")
        #expect(second.json == json(#"{"Item":{"v":{"N":"1"}}}"#))
    }

    @Test func aMissingItemIsCachedAsAbsent() {
        let f = ProxyFixture()
        let miss = f.call("GetItem", Self.getA)
        f.storage.answer("{}")
        #expect(miss.body == "{}")
        let hit = f.call("GetItem", Self.getA)
        #expect(hit.status == "hit")
        #expect(hit.body == "{}")
    }

    @Test func entriesExpireAfterTheirTTL() {
        let f = ProxyFixture(
            configuration: ProxyConfiguration(itemTTL: 10_000_000_000, negativeTTL: 1_000_000_000, shards: 1))
        fillA(f)
        f.clock.advance(seconds: 9)
        #expect(f.call("GetItem", Self.getA).status == "hit")
        f.clock.advance(seconds: 1)
        let expired = f.call("GetItem", Self.getA)
        #expect(expired.isDone == false)
        f.storage.answer("{}")
        f.clock.advance(seconds: 1)
        #expect(f.call("GetItem", Self.getA).isDone == false)  // the absent entry's shorter TTL
    }

    // MARK: Coherence

    @Test func aFillThatStartedBeforeAPutNeverLandsAfterIt() {
        let f = ProxyFixture()
        learnSchema(f)
        let read = f.call("GetItem", Self.getA)  // reads the old item...
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA2 + "}")
        f.storage.answer(at: 1, "{}")  // ...the put is acknowledged first,
        #expect(write.status == "write")
        f.storage.answer(at: 0, #"{"Item":"# + Self.itemA1 + "}")  // then the old item arrives
        #expect(read.json == json(#"{"Item":"# + Self.itemA1 + "}"))  // that reader asked before the write
        let after = f.call("GetItem", Self.getA)
        #expect(after.status == "hit")
        #expect(after.json == json(#"{"Item":"# + Self.itemA2 + "}"))
        #expect(f.checkInvariants().isEmpty)
    }

    @Test func aReadAfterAnAcknowledgedWriteNeverJoinsAnOlderFetch() {
        let f = ProxyFixture()
        learnSchema(f)
        let before = f.call("GetItem", Self.getA)  // its fetch reads the old item...
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA2 + "}")
        f.storage.answer(at: 1, "{}")
        #expect(write.isDone)
        let after = f.call("GetItem", Self.getA)  // ...this read began after the write was acknowledged
        if !after.isDone {
            #expect(f.storage.pending.count == 2, "it must not wait for the older fetch")
            f.storage.answer(at: 1, #"{"Item":"# + Self.itemA2 + "}")
        }
        f.storage.answer(at: 0, #"{"Item":"# + Self.itemA1 + "}")
        #expect(before.isDone)
        #expect(after.json == json(#"{"Item":"# + Self.itemA2 + "}"))
    }

    @Test func aFillThatStartedBeforeAnUpdateNeverLandsAfterIt() {
        let f = ProxyFixture()
        let read = f.call("GetItem", Self.getA)
        let write = f.call(
            "UpdateItem",
            #"{"TableName":"users","Key":{"id":{"S":"a"}},"UpdateExpression":"SET v = :v","ExpressionAttributeValues":{":v":{"N":"2"}}}"#
        )
        // The caller asked nothing back; the proxy asks for ALL_NEW to refresh its entry.
        #expect(f.storage.pending[1].body.contains(#""ReturnValues":"ALL_NEW""#))
        f.storage.answer(
            at: 1, #"{"Attributes":"# + Self.itemA2 + #","ConsumedCapacity":{"TableName":"users","CapacityUnits":1.0}}"#
        )
        #expect(write.json == json(#"{"ConsumedCapacity":{"TableName":"users","CapacityUnits":1.0}}"#))
        f.storage.answer(at: 0, #"{"Item":"# + Self.itemA1 + "}")
        _ = read
        let after = f.call("GetItem", Self.getA)
        #expect(after.status == "hit")
        #expect(after.json == json(#"{"Item":"# + Self.itemA2 + "}"))
    }

    @Test func updateWithOtherReturnValuesEvicts() {
        let f = ProxyFixture()
        fillA(f)
        let write = f.call(
            "UpdateItem",
            #"{"TableName":"users","Key":{"id":{"S":"a"}},"UpdateExpression":"SET v = :v","ExpressionAttributeValues":{":v":{"N":"2"}},"ReturnValues":"UPDATED_OLD"}"#
        )
        #expect(!f.storage.pending[0].body.contains("ALL_NEW"))
        f.storage.answer(#"{"Attributes":{"v":{"N":"1"}}}"#)
        #expect(write.json == json(#"{"Attributes":{"v":{"N":"1"}}}"#))
        #expect(f.call("GetItem", Self.getA).isDone == false)
    }

    @Test func deleteLeavesAnAbsentEntry() {
        let f = ProxyFixture()
        fillA(f)
        let delete = f.call("DeleteItem", #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#)
        f.storage.answer("{}")
        #expect(delete.status == "write")
        let after = f.call("GetItem", Self.getA)
        #expect(after.status == "hit")
        #expect(after.body == "{}")
    }

    @Test func failedConditionsAndUnknownOutcomesEvict() {
        for failure in [
            { (s: ScriptedStorage) in
                s.answer(
                    status: .badRequest,
                    #"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"c"}"#)
            },
            { (s: ScriptedStorage) in s.answer(status: .internalServerError, #"{"__type":"x#InternalServerError"}"#) },
            { (s: ScriptedStorage) in
                s.fail(StorageError(.timeout, description: "the storage server did not answer in time"))
            },
            { (s: ScriptedStorage) in
                s.fail(
                    StorageError(.connectionLost, description: "the connection to the storage server was lost: reset"))
            },
        ] {
            let f = ProxyFixture()
            fillA(f)
            let write = f.call(
                "PutItem",
                #"{"TableName":"users","Item":"# + Self.itemA2
                    + #","ConditionExpression":"v = :one","ExpressionAttributeValues":{":one":{"N":"1"}}}"#)
            failure(f.storage)
            #expect(write.code ?? 0 >= 400)
            #expect(f.call("GetItem", Self.getA).isDone == false, "the entry must be gone")
        }
    }

    @Test func errorsThatGuaranteeNoWriteLeaveTheEntry() {
        let f = ProxyFixture()
        fillA(f)
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA2 + "}")
        f.storage.answer(
            status: .badRequest, #"{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}"#)
        #expect(write.code == 400)
        #expect(f.call("GetItem", Self.getA).status == "hit")
        // Unreachable: nothing was sent, so nothing changed either.
        let unsent = f.call("DeleteItem", #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#)
        f.storage.fail(StorageError(.unreachable, reason: "refused", description: "refused"))
        #expect(unsent.code == 503)
        #expect(f.call("GetItem", Self.getA).status == "hit")
    }

    @Test func overlappingWritesOfOneKeyLeaveItUncached() {
        let f = ProxyFixture()
        learnSchema(f)
        let first = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA1 + "}")
        let second = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA2 + "}")
        f.storage.answer(at: 1, "{}")
        f.storage.answer(at: 0, "{}")
        #expect(first.isDone && second.isDone)
        #expect(f.call("GetItem", Self.getA).isDone == false)
    }

    @Test func aPutIntoATableWhoseKeyIsNotConfirmedDropsInsteadOfStoring() {
        let f = ProxyFixture()
        let read = f.call("GetItem", Self.getA)  // notes a candidate key schema, fill in flight
        let write = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA2 + "}")
        f.storage.answer(at: 1, "{}")
        f.storage.answer(at: 0, #"{"Item":"# + Self.itemA1 + "}")
        #expect(read.isDone && write.isDone)
        let after = f.call("GetItem", Self.getA)
        #expect(after.isDone == false, "the racing fill must have been discarded")
    }

    @Test func anUnreadableAnswerToARewrittenRequestIsNeverPassedOn() {
        // moto stores numbers DynamoDB refuses; the proxy cannot read such an item, and the answer to the request
        // it rewrote (no projection) is not what the caller asked: it sends the caller's own request instead.
        let f = ProxyFixture()
        let projected = #"{"TableName":"users","Key":{"id":{"S":"a"}},"ProjectionExpression":"v"}"#
        let get = f.call("GetItem", projected)
        f.storage.answer(#"{"Item":{"id":{"S":"a"},"v":{"S":"x"},"n":{"N":"1E-131"}}}"#)
        #expect(f.storage.pending.first?.body == projected)
        f.storage.answer(#"{"Item":{"v":{"S":"x"}}}"#)
        #expect(get.body == #"{"Item":{"v":{"S":"x"}}}"#)
        #expect(get.status == "miss")
        fillA(f)
        let batch = f.call(
            "BatchGetItem",
            #"{"RequestItems":{"users":{"Keys":[{"id":{"S":"a"}},{"id":{"S":"b"}}],"ProjectionExpression":"v"}}}"#)
        f.storage.answer(#"{"Responses":{"users":[{"id":{"S":"b"},"n":{"N":"1E-131"}}]},"UnprocessedKeys":{}}"#)
        #expect(f.storage.pending.first?.body.contains(#"{"id":{"S":"a"}}"#) == true, "the caller's whole request")
        f.storage.answer(#"{"Responses":{"users":[{"v":{"N":"1"}},{}]},"UnprocessedKeys":{}}"#)
        #expect(batch.body == #"{"Responses":{"users":[{"v":{"N":"1"}},{}]},"UnprocessedKeys":{}}"#)
    }

    // MARK: Numbers and binaries in the storage server's form

    @Test func aPutSpelledAsTheServerKeepsItIsStoredReEncodedFromItsParsedForm() {
        let f = ProxyFixture()
        learnSchema(f)
        // Members DynamoDB ignores (a null datatype, an unknown one) and spacing never reach a reader.
        let write = f.call(
            "PutItem",
            #"{"TableName":"users","Item":{ "id" : {"S":"a","N":null}, "v":{"N":"-2.5","X":1}, "b":{"BS":["AA=="]} }}"#
        )
        f.storage.answer("{}")
        #expect(write.status == "write")
        let hit = f.call("GetItem", Self.getA)
        #expect(hit.status == "hit")
        #expect(hit.body == #"{"Item":{"id":{"S":"a"},"v":{"N":"-2.5"},"b":{"BS":["AA=="]}}}"#)
        #expect(f.proxy.statistics.invalidations[InvalidationCause.nonCanonical.rawValue].value == 0)
    }

    @Test(arguments: [
        #"{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"2.50"}}}"#,
        #"{"TableName":"users","Item":{"id":{"S":"a"},"m":{"M":{"l":{"L":[{"NS":["1","1e2"]}]}}}}}"#,
        #"{"TableName":"users","Item":{"id":{"S":"a"},"b":{"B":"AQ"}}}"#,
    ])
    func aPutSpelledOtherwiseEvictsSoTheNextReadReturnsTheServersForm(_ put: String) {
        let f = ProxyFixture()
        fillA(f)
        let write = f.call("PutItem", put)
        f.storage.answer("{}")
        #expect(write.status == "write")
        #expect(f.proxy.statistics.invalidations[InvalidationCause.nonCanonical.rawValue].value == 1)
        let miss = f.call("GetItem", Self.getA)
        #expect(miss.isDone == false, "the entry must have been dropped, not stored as the request spelled it")
        let serverForm = #"{"Item":{"id":{"S":"a"},"v":{"N":"2.5"}}}"#
        f.storage.answer(serverForm)
        #expect(miss.status == "miss")
        let hit = f.call("GetItem", Self.getA)
        #expect(hit.status == "hit")
        #expect(hit.body == serverForm)
    }

    @Test func batchAndTransactionPutsFollowTheSameRule() {
        let f = ProxyFixture()
        learnSchema(f)
        let batch = f.call(
            "BatchWriteItem",
            #"{"RequestItems":{"users":[{"PutRequest":{"Item":{"id":{"S":"a"},"v":{"N":"1.0"}}}},{"PutRequest":{"Item":{"id":{"S":"b"},"v":{"N":"1"}}}}]}}"#
        )
        f.storage.answer(#"{"UnprocessedItems":{}}"#)
        #expect(batch.isDone)
        #expect(f.call("GetItem", Self.getA).isDone == false)
        f.storage.answer(#"{"Item":{"id":{"S":"a"},"v":{"N":"1"}}}"#)
        #expect(f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"b"}}}"#).status == "hit")
        let transaction = f.call(
            "TransactWriteItems",
            #"{"TransactItems":[{"Put":{"TableName":"users","Item":{"id":{"S":"c"},"v":{"NS":["+1"]}}}},{"Put":{"TableName":"users","Item":{"id":{"S":"d"},"v":{"NS":["1"]}}}}]}"#
        )
        f.storage.answer("{}")
        #expect(transaction.isDone)
        #expect(f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"c"}}}"#).isDone == false)
        #expect(f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"d"}}}"#).status == "hit")
        #expect(f.proxy.statistics.invalidations[InvalidationCause.nonCanonical.rawValue].value == 2)
    }

    @Test func partiQLWritesAndTableChangesDropTheTable() {
        let f = ProxyFixture()
        fillA(f)
        let insert = f.call("ExecuteStatement", #"{"Statement":"UPDATE \"users\" SET v = 3 WHERE id = 'a'"}"#)
        f.storage.answer("{}")
        #expect(insert.status == "write")
        #expect(f.call("GetItem", Self.getA).isDone == false)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        let select = f.call("ExecuteStatement", #"{"Statement":"SELECT * FROM users"}"#)
        f.storage.answer(#"{"Items":[]}"#)
        #expect(select.status == "bypass")
        #expect(f.call("GetItem", Self.getA).status == "hit")
        let delete = f.call("DeleteTable", #"{"TableName":"users"}"#)
        f.storage.answer(#"{"TableDescription":{"TableName":"users"}}"#)
        #expect(delete.isDone)
        #expect(f.call("GetItem", Self.getA).isDone == false)
    }

    @Test func aPartiQLWriteWhoseTableCannotBeToldDropsEveryItemButKeepsTheSchemas() {
        let f = ProxyFixture()
        fillA(f)
        let getB = #"{"TableName":"users","Key":{"id":{"S":"b"}}}"#
        let fillB = f.call("GetItem", getB)
        f.storage.answer(#"{"Item":{"id":{"S":"b"}}}"#)
        #expect(fillB.isDone)
        let statement = f.call("ExecuteStatement", #"{"Statement":"UPSERT INTO users VALUE {'id':'a'}"}"#)
        f.storage.answer("{}")
        #expect(statement.status == "write")
        // The key schema is still known, so a put through the proxy is stored at once...
        let put = f.call("PutItem", #"{"TableName":"users","Item":"# + Self.itemA2 + "}")
        f.storage.answer("{}")
        #expect(put.isDone)
        let a = f.call("GetItem", Self.getA)
        #expect(a.status == "hit")
        #expect(a.json == json(#"{"Item":"# + Self.itemA2 + "}"))
        // ...while every item cached before the statement is gone.
        #expect(f.call("GetItem", getB).isDone == false)
    }

    @Test func resourceNotFoundForgetsTheTable() {
        let f = ProxyFixture()
        fillA(f)
        let query = f.call("Query", #"{"TableName":"users","KeyConditionExpression":"id = :a"}"#)
        f.storage.answer(
            status: .badRequest,
            #"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"gone"}"#)
        #expect(query.code == 400)
        #expect(f.call("GetItem", Self.getA).isDone == false)
    }

    @Test func transactionsRefreshOnSuccessAndEvictOnFailure() {
        let f = ProxyFixture()
        learnSchema(f)
        let put = #"{"TransactItems":[{"Put":{"TableName":"users","Item":"# + Self.itemA2 + "}}]}"
        let ok = f.call("TransactWriteItems", put)
        f.storage.answer("{}")
        #expect(ok.status == "write")
        let hit = f.call("GetItem", Self.getA)
        #expect(hit.status == "hit")
        #expect(hit.json == json(#"{"Item":"# + Self.itemA2 + "}"))
        let failed = f.call("TransactWriteItems", put)
        f.storage.answer(
            status: .badRequest,
            #"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"c"}"#)
        #expect(failed.code == 400)
        #expect(f.call("GetItem", Self.getA).isDone == false)
    }

    @Test func batchGetMergesHitsAndMissesAndReturnsUnprocessedKeysAsAsked() {
        let f = ProxyFixture()
        fillA(f)
        let batch = f.call(
            "BatchGetItem",
            #"{"RequestItems":{"users":{"Keys":[{"id":{"S":"a"}},{"id":{"S":"b"}},{"id":{"S":"c"}}],"ProjectionExpression":"v"}}}"#
        )
        // Only the missing keys go up, without the projection.
        let sent = json(f.storage.pending[0].body)
        let keys = ((sent["RequestItems"] as! NSDictionary)["users"] as! NSDictionary)
        #expect((keys["Keys"] as! NSArray).count == 2)
        #expect(keys["ProjectionExpression"] == nil)
        f.storage.answer(
            #"{"Responses":{"users":[{"id":{"S":"b"},"v":{"N":"7"},"w":{"N":"0"}}]},"UnprocessedKeys":{"users":{"Keys":[{"id":{"S":"c"}}]}}}"#
        )
        #expect(batch.status == "partial")
        let answer = batch.json!
        let items = Set(((answer["Responses"] as! NSDictionary)["users"] as! NSArray).map { ($0 as! NSDictionary) })
        #expect(items == [json(#"{"v":{"N":"1"}}"#), json(#"{"v":{"N":"7"}}"#)])
        #expect(
            (answer["UnprocessedKeys"] as! NSDictionary)
                == json(#"{"users":{"Keys":[{"id":{"S":"c"}}],"ProjectionExpression":"v"}}"#))
        // b is cached now; c was not processed, so it is not recorded as absent.
        #expect(f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"b"}}}"#).status == "hit")
        #expect(f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"c"}}}"#).isDone == false)
        #expect(f.checkInvariants().isEmpty)
    }

    @Test func withoutRewritesSignedBodiesAreForwardedAsSent() {
        let f = ProxyFixture(configuration: ProxyConfiguration(shards: 1, rewriteRequests: false))
        let projected = f.call("GetItem", #"{"TableName":"users","Key":{"id":{"S":"a"}},"ProjectionExpression":"v"}"#)
        #expect(f.storage.pending[0].body.contains("ProjectionExpression"))
        f.storage.answer(#"{"Item":{"v":{"N":"1"}}}"#)
        #expect(projected.isDone)
        #expect(f.call("GetItem", Self.getA).isDone == false, "a projected answer is not a whole item: nothing stored")
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        let update = f.call(
            "UpdateItem",
            #"{"TableName":"users","Key":{"id":{"S":"a"}},"UpdateExpression":"SET v = :v","ExpressionAttributeValues":{":v":{"N":"2"}}}"#
        )
        #expect(!f.storage.pending[0].body.contains("ALL_NEW"))
        f.storage.answer("{}")
        #expect(update.isDone)
        #expect(f.call("GetItem", Self.getA).isDone == false, "an update it cannot see is evicted")
    }

    // MARK: Helpers

    /// Fills item a (version 1) for Alice, which also confirms the table's key schema.
    private func fillA(_ f: ProxyFixture) {
        let answer = f.call("GetItem", Self.getA)
        f.storage.answer(#"{"Item":"# + Self.itemA1 + "}")
        precondition(answer.isDone)
    }

    /// Confirms the key schema without caching anything (as a DescribeTable passing through does).
    private func learnSchema(_ f: ProxyFixture) {
        let describe = f.call("DescribeTable", #"{"TableName":"users"}"#)
        f.storage.answer(#"{"Table":{"TableName":"users","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}}"#)
        precondition(describe.isDone)
    }
}

/// zlib's CRC-32, bit by bit, as an independent reference.
func crc32(_ buffer: ByteBuffer) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in buffer.readableBytesView {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}
