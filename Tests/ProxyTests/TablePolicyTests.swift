import Foundation
import NIOCore
import Proxy
import Testing

/// `--table-policy`: a table never cached, a table with its own item and page lifetimes, beside tables that keep
/// the defaults (item TTL 300 s, negative TTL 60 s, page TTL 300 s).
@Suite struct TablePolicyTests {
    static let policies: [String: TablePolicy] = [
        "audit": TablePolicy(cached: false),
        "sessions": TablePolicy(itemTTL: 30_000_000_000, queryTTL: 10_000_000_000),
        "nopages": TablePolicy(queryTTL: 0),
    ]

    private func fixture() -> ProxyFixture {
        ProxyFixture(configuration: ProxyConfiguration(shards: 4, tablePolicies: Self.policies))
    }

    private func get(_ table: String, _ key: String = "a") -> String {
        #"{"TableName":"\#(table)","Key":{"id":{"S":"\#(key)"}}}"#
    }

    private func query(_ table: String) -> String {
        #"{"TableName":"\#(table)","KeyConditionExpression":"id = :a","ExpressionAttributeValues":{":a":{"S":"a"}}}"#
    }

    static let item = #"{"Item":{"id":{"S":"a"},"v":{"N":"1"}}}"#

    @Test func aTableThatIsOffIsNeverAnsweredFromMemoryNorKept() {
        let f = fixture()
        for _ in 0..<2 {
            let read = f.call("GetItem", get("audit"))
            #expect(!read.isDone, "every read goes to the storage server")
            f.storage.answer(Self.item)
            #expect(read.status == "bypass")
        }
        let write = f.call("PutItem", #"{"TableName":"audit","Item":{"id":{"S":"a"},"v":{"N":"2"}}}"#)
        f.storage.answer("{}")
        #expect(write.status == "write")
        #expect(!f.call("GetItem", get("audit")).isDone, "a write through the proxy is not kept either")
        f.storage.answer(Self.item)
        #expect(f.proxy.itemCacheStats().entries == 0)
        let page = f.call("Query", query("audit"))
        f.storage.answer(#"{"Items":[],"Count":0,"ScannedCount":0}"#)
        #expect(page.status == "bypass")
        // In a batch, the table that is off is asked of the storage server; the other is served from memory.
        _ = f.call("GetItem", get("users"))
        f.storage.answer(Self.item)
        let batch = f.call(
            "BatchGetItem",
            #"{"RequestItems":{"audit":{"Keys":[{"id":{"S":"a"}}]},"users":{"Keys":[{"id":{"S":"a"}}]}}}"#)
        #expect(f.storage.pending.last?.body.contains("users") == false, "only audit was sent")
        f.storage.answer(#"{"Responses":{"audit":[{"id":{"S":"a"},"v":{"N":"1"}}]},"UnprocessedKeys":{}}"#)
        #expect(batch.status == "partial")
        #expect(f.checkInvariants().isEmpty)
    }

    @Test func aTableWithItsOwnLifetimesExpiresOnItsOwnClock() {
        let f = fixture()
        for table in ["sessions", "users"] {
            _ = f.call("GetItem", get(table))
            f.storage.answer(Self.item)
            _ = f.call("GetItem", get(table, "absent"))
            f.storage.answer("{}")
        }
        f.clock.advance(seconds: 29)
        #expect(f.call("GetItem", get("sessions")).status == "hit")
        #expect(f.call("GetItem", get("sessions", "absent")).status == "hit")
        f.clock.advance(seconds: 2)
        #expect(!f.call("GetItem", get("sessions")).isDone, "31 s: past the table's 30 s")
        f.storage.answer(Self.item)
        #expect(!f.call("GetItem", get("sessions", "absent")).isDone, "its absences are kept no longer than 30 s")
        f.storage.answer("{}")
        #expect(f.call("GetItem", get("users")).status == "hit", "other tables keep the default 300 s")
        #expect(f.call("GetItem", get("users", "absent")).status == "hit", "and the default 60 s for absences")

        _ = f.call("Query", query("sessions"))
        f.storage.answer(#"{"Items":[],"Count":0,"ScannedCount":0}"#)
        f.clock.advance(seconds: 9)
        #expect(f.call("Query", query("sessions")).status == "hit")
        f.clock.advance(seconds: 2)
        #expect(!f.call("Query", query("sessions")).isDone, "11 s: past the table's 10 s for pages")
        f.storage.answer(#"{"Items":[],"Count":0,"ScannedCount":0}"#)

        let page = f.call("Query", query("nopages"))
        f.storage.answer(#"{"Items":[],"Count":0,"ScannedCount":0}"#)
        #expect(page.status == "bypass", "query-ttl=0: the table's pages are not cached")
        _ = f.call("GetItem", get("nopages"))
        f.storage.answer(Self.item)
        #expect(f.call("GetItem", get("nopages")).status == "hit", "its items are")
        #expect(f.checkInvariants().isEmpty)
    }
}
