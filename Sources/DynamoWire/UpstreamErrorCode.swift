import NIOCore

/// The error code of an error answer from the storage server.
package enum UpstreamErrorCode {
    /// The part of `__type` after `#` (e.g. `ConditionalCheckFailedException` of
    /// `com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException`), or all of it when it has no `#`; nil
    /// when `body` is not a JSON object with a string `__type`.
    package static func code(in body: ByteBuffer) -> String? {
        guard let object = try? JSONObject(parsing: body),
            let value = try? object.member("__type"), value.kind == .string
        else { return nil }
        let type = object.string(value)
        guard let hash = type.lastIndex(of: "#") else { return type }
        return String(type[type.index(after: hash)...])
    }
}
