// Design note: client authentication (`--client-auth sigv4`).
//
// Every request is verified before anything else happens to it: its SigV4 signature against the secret of the
// client whose access key it names (the `--client-credentials` file), then what it touches against that client's
// section (`tables`, `access`). A request that fails either is answered at once with the error real DynamoDB gives
// and is never forwarded, so the storage server sees nothing of it. A verified request's cache namespace is its
// client (and, when its signature is forwarded, the region it signed for, since a storage server keeps one
// database per region): entries filled for one client are never served to another. The client table is replaced
// whole on SIGHUP; a request sees the old table or the new one, never a mix.

import AWSAuth
import DynamoWire
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Verifies clients' SigV4 signatures and applies their sections' access rules.
package final class ClientAuthenticator: Sendable {
    private let clients: NIOLockedValueBox<ClientCredentials>
    private let verifier: SigV4Verifier
    /// Wall-clock Unix seconds: signatures carry wall-clock dates.
    private let wallClock: @Sendable () -> Int

    package init(clients: ClientCredentials, wallClock: @escaping @Sendable () -> Int, maximumSkewSeconds: Int = 300) {
        self.clients = NIOLockedValueBox(clients)
        self.wallClock = wallClock
        verifier = SigV4Verifier(service: "dynamodb", maximumSkewSeconds: maximumSkewSeconds)
    }

    /// Replaces the client table (on SIGHUP).
    package func replace(_ clients: ClientCredentials) {
        self.clients.withLockedValue { $0 = clients }
    }

    /// How many clients the table holds.
    package var clientCount: Int {
        clients.withLockedValue { $0.count }
    }

    /// A client whose signature was verified, with the region it signed for.
    struct Verified {
        var identity: ClientIdentity
        var region: String
    }

    /// The error to answer from a request's head alone (no known key, a date out of range, a bad scope), before
    /// its body is read; nil when only the signature over the body remains to be checked.
    func precheck(_ head: HTTPRequestHead) -> DynamoError? {
        let table = clients.withLockedValue { $0 }
        do {
            _ = try verifier.precheck(
                headers: head.headers, now: wallClock(), secret: { table.byAccessKeyID[$0]?.secretAccessKey })
            return nil
        } catch {
            return Self.error(for: error)
        }
    }

    /// The client that signed `request`, or the error to answer.
    func authenticate(_ request: ProxyRequest) -> Result<Verified, DynamoError> {
        let table = clients.withLockedValue { $0 }
        do {
            let authorization = try request.body.withUnsafeReadableBytes { body throws(SigV4Failure) in
                try verifier.verify(
                    method: request.head.method.rawValue,
                    uri: request.head.uri,
                    headers: request.head.headers,
                    body: body,
                    now: wallClock(),
                    secret: { table.byAccessKeyID[$0]?.secretAccessKey }
                )
            }
            return .success(
                Verified(identity: table.byAccessKeyID[authorization.accessKeyID]!, region: authorization.region))
        } catch {
            return .failure(Self.error(for: error))
        }
    }

    /// The error DynamoDB answers for each way a signature fails.
    static func error(for failure: SigV4Failure) -> DynamoError {
        switch failure {
        case .missing:
            DynamoError(.missingAuthenticationToken, message: "Request is missing Authentication Token")
        case .incomplete(let detail):
            DynamoError(.incompleteSignature, message: detail)
        case .unknownAccessKey, .sessionTokenNotAccepted:
            DynamoError(.unrecognizedClient, message: "The security token included in the request is invalid.")
        case .expired(let requestDate, let earliest, let now):
            DynamoError(
                .invalidSignature,
                message: "Signature expired: \(requestDate) is now earlier than \(earliest) (\(now) - 5 min.)")
        case .notYetCurrent(let requestDate, let latest, let now):
            DynamoError(
                .invalidSignature,
                message: "Signature not yet current: \(requestDate) is still later than \(latest) (\(now) + 5 min.)")
        case .badScope(let detail):
            DynamoError(.invalidSignature, message: detail)
        case .mismatch:
            DynamoError(
                .invalidSignature,
                message: "The request signature we calculated does not match the signature you provided. Check "
                    + "your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        }
    }

    /// Nil when `client` may do what `scope` describes; otherwise the AccessDeniedException to answer.
    static func authorize(_ client: ClientIdentity, _ scope: RequestScope) -> DynamoError? {
        func denied(_ resource: String, because reason: String) -> DynamoError {
            DynamoError(
                .accessDenied,
                message: "User: \(client.name) is not authorized to perform: dynamodb:\(scope.operation) on "
                    + "resource: \(resource) because \(reason)")
        }
        let needed: ClientIdentity.Access =
            switch scope.access {
            case .read: .read
            case .writeItems: .readwrite
            case .administer: .admin
            }
        if needed > client.access {
            let resource: String
            if case .named(let tables) = scope.tables, let first = tables.first {
                resource = "table/\(first)"
            } else {
                resource = "*"
            }
            let allowed =
                client.access == .read ? "allows reads only" : "allows reads and item writes only (not access = admin)"
            return denied(resource, because: "its section of the client credentials file \(allowed)")
        }
        guard let allowed = client.tables else { return nil }
        let list = allowed.map(\.text).joined(separator: ", ")
        if scope.namesTableByARN {
            // An ARN may name another account's table of an allowed name.
            return denied("*", because: "its section limits it to \(list), named by table name, not ARN")
        }
        switch scope.tables {
        case .named(let tables):
            guard let refused = tables.first(where: { !client.allows(table: $0) }) else { return nil }
            return denied("table/\(refused)", because: "its section of the client credentials file allows only \(list)")
        case .account:
            return denied("*", because: "its section of the client credentials file limits it to \(list)")
        case .unknown:
            return denied("*", because: "the tables it touches cannot be told and its section limits it to \(list)")
        }
    }
}
