import CacheCore
import DynamoWire
import NIOCore

extension DynamoProxy {
    /// PutItem, UpdateItem, DeleteItem, BatchWriteItem and TransactWriteItems: each planned (WritePlans.swift)
    /// and run by `write`. A request the proxy cannot read is forwarded, and forgets its table if accepted.
    func keyedWrite(_ call: Call) -> ProxyOutcome {
        let object = call.object
        switch call.operation {
        case .putItem:
            guard let request = try? PutItemRequest(object) else { break }
            return write(call, PutItemPlan(request, schemas: schemas(of: [request.tableName])))
        case .updateItem:
            guard let request = try? KeyedWriteRequest(object) else { break }
            let plan = UpdateItemPlan(request, mayRewrite: configuration.rewriteRequests)
            guard plan.asksForAllNew else { return write(call, plan) }
            let body = KeyedWriteRequest.askingForAllNew(object, allocator: allocator)
            return write(call, plan, body: body, answer: withoutAttributes)
        case .deleteItem:
            guard let request = try? KeyedWriteRequest(object) else { break }
            return write(call, DeleteItemPlan(request))
        case .batchWriteItem:
            guard let request = try? BatchWriteItemRequest(object) else { break }
            return write(call, BatchWriteItemPlan(request, schemas: schemas(of: request.tables.map(\.tableName))))
        case .transactWriteItems:
            guard let request = try? TransactWriteItemsRequest(object) else { break }
            return write(call, TransactWriteItemsPlan(request, schemas: schemas(of: request.items.map(\.tableName))))
        default:
            preconditionFailure("\(call.operation) is not a keyed write")
        }
        return write(call, UnreadWritePlan(table: (try? object.tableName()).flatMap { $0 }))
    }

    /// Runs a planned write: begins its keys' writes, sends `body` (the client's own when nil), applies the
    /// effects of the answer, then answers the client (`answer` may reshape a successful answer).
    func write(
        _ call: Call,
        _ plan: some WritePlan,
        body: ByteBuffer? = nil,
        status: CacheStatus = .write,
        answer: @escaping @Sendable (StorageResponse, DynamoProxy) -> ProxyResponse = { upstream, _ in
            ProxyResponse(upstream: upstream)
        }
    ) -> ProxyOutcome {
        let tickets = beginWrites(plan.begins, namespace: call.namespace)
        return .deferred(
            send(call, body: body).map { reply in
                let outcome = WriteOutcome(reply)
                self.apply(plan.effects(of: outcome, schemas: self.schemas(of: plan.tables)), tickets: tickets)
                guard case .applied = outcome, case .response(let upstream) = reply else {
                    return self.response(for: reply).marked(status)
                }
                return answer(upstream, self).marked(status)
            }
        )
    }
}

/// The answer for a caller who asked UpdateItem for nothing back, when the proxy asked for ALL_NEW: the server's
/// answer without the attributes, with its checksum recomputed.
@Sendable private func withoutAttributes(_ upstream: StorageResponse, _ proxy: DynamoProxy) -> ProxyResponse {
    var response = ProxyResponse(upstream: upstream)
    response.body = UpdateItemResponse.removingAttributes(from: upstream.body, allocator: proxy.allocator)
    response.headers.replaceOrAdd(name: "x-amz-crc32", value: String(CRC32.checksum(response.body)))
    return response
}
