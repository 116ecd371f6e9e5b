/// Who may see a cache entry: the access key id and region of the SigV4 credential scope of the request that
/// filled it. While the proxy forwards callers' own signatures, an entry is served only to requests signed with
/// the same key and region, so two callers with different keys never see each other's entries (a body-keyed
/// HTTP cache would leak across keys). Requests without a SigV4 `Authorization` header share the empty namespace.
package struct Namespace: Hashable, Sendable {
    package let value: String

    package init(value: String) {
        self.value = value
    }

    /// Reads `Credential=AKID/DATE/REGION/SERVICE/aws4_request` from an `Authorization` header value.
    package init(authorization: String?) {
        guard let header = authorization, let range = header.utf8.firstRange(of: "Credential=".utf8) else {
            self.value = ""
            return
        }
        let scope = header.utf8[range.upperBound...].prefix { $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: " ") }
        let parts = scope.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count >= 3 else {
            self.value = String(Substring(scope))
            return
        }
        // Key id and region; the date changes daily and the service is always dynamodb here.
        self.value = String(Substring(parts[0])) + "/" + String(Substring(parts[2]))
    }
}
