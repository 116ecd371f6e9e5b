import Foundation

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
    /// On every request: a plain byte scan, no searching algorithms or splitting into arrays.
    package init(authorization: String?) {
        guard var header = authorization else {
            value = ""
            return
        }
        value = header.withUTF8 { bytes -> String in
            let marker: StaticString = "Credential="
            let markerLength = marker.utf8CodeUnitCount
            var start = -1
            var i = 0
            while i + markerLength <= bytes.count {
                if bytes[i] == UInt8(ascii: "C"),
                    memcmp(bytes.baseAddress! + i, marker.utf8Start, markerLength) == 0
                {
                    start = i + markerLength
                    break
                }
                i += 1
            }
            guard start >= 0 else { return "" }
            // Scope fields up to the end of the credential: key id, date, region, service, terminator.
            var slashes = (-1, -1, -1)
            var found = 0
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ","), bytes[end] != UInt8(ascii: " ") {
                if bytes[end] == UInt8(ascii: "/") {
                    switch found {
                    case 0: slashes.0 = end
                    case 1: slashes.1 = end
                    case 2: slashes.2 = end
                    default: break
                    }
                    found += 1
                }
                end += 1
            }
            guard found >= 3 else {
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            }
            // Key id and region; the date changes daily and the service is always dynamodb here. One String,
            // built in place: this runs on every request.
            let keyID = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<slashes.0]))
            let region = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[(slashes.1 + 1)..<slashes.2]))
            // Cut from a String at ASCII bytes, so both parts are valid UTF-8.
            return String(unsafeUninitializedCapacity: keyID.count + 1 + region.count) { out in
                let raw = UnsafeMutableRawBufferPointer(out)
                raw.copyMemory(from: keyID)
                raw[keyID.count] = UInt8(ascii: "/")
                UnsafeMutableRawBufferPointer(rebasing: raw[(keyID.count + 1)...]).copyMemory(from: region)
                return keyID.count + 1 + region.count
            }
        }
    }
}
