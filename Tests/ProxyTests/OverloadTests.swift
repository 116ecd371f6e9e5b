import Foundation
import NIOCore
import Proxy
import Testing

/// With as many requests waiting on the storage server as `upstreamMaxInflight` allows, what needs the storage
/// server is refused at once as ThrottlingException and hits go on being served.
@Suite struct OverloadTests {
    static let getA = #"{"TableName":"users","Key":{"id":{"S":"a"}}}"#
    static let itemA = #"{"Item":{"id":{"S":"a"},"v":{"N":"1"}}}"#

    private func get(_ key: String) -> String { #"{"TableName":"users","Key":{"id":{"S":"\#(key)"}}}"# }

    @Test func pastTheLimitRequestsAreThrottledAtOnceAndHitsAreServed() {
        let f = ProxyFixture(configuration: ProxyConfiguration(shards: 4, upstreamMaxInflight: 2))
        let fill = f.call("GetItem", Self.getA)
        f.storage.answer(Self.itemA)
        #expect(fill.status == "miss")
        // The storage server stalls: two requests wait on it.
        let waiting = [f.call("GetItem", get("b")), f.call("GetItem", get("c"))]
        #expect(f.storage.pending.count == 2)
        let refused = f.call("GetItem", get("d"))
        #expect(refused.code == 400)
        #expect(refused.json?["__type"] as? String == "com.amazon.coral.availability#ThrottlingException")
        #expect(f.storage.pending.count == 2, "nothing more was sent")
        #expect(f.call("GetItem", Self.getA).status == "hit", "hits are served meanwhile")
        // A write refused this way changed nothing: the cached item stays.
        let write = f.call("PutItem", #"{"TableName":"users","Item":{"id":{"S":"a"},"v":{"N":"2"}}}"#)
        #expect(write.code == 400)
        #expect(f.call("GetItem", Self.getA).json == json(Self.itemA))
        // Places come back as answers arrive.
        f.storage.answer("{}")
        #expect(waiting[0].isDone)
        let accepted = f.call("GetItem", get("d"))
        #expect(accepted.isDone == false)
        #expect(f.storage.pending.count == 2)
        f.storage.fail(StorageError(.timeout, description: "late"))
        f.storage.answer("{}")
        #expect(waiting[1].isDone && accepted.isDone)
        #expect(f.call("GetItem", get("e")).isDone == false, "a failure gives its place back too")
        #expect(f.call("GetItem", get("f")).isDone == false)
        #expect(f.call("GetItem", get("g")).code == 400, "each place was given back once")
        #expect(f.proxy.statistics.upstreamErrors[UpstreamErrorKind.overloaded.rawValue].value == 3)
    }
}
