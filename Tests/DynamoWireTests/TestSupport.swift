import NIOCore

@testable import DynamoWire

/// A buffer holding the UTF-8 of `text`.
func buffer(_ text: String) -> ByteBuffer {
    ByteBuffer(string: text)
}

/// A buffer holding `bytes`.
func buffer(_ bytes: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: bytes)
}

/// The error `body` throws, or nil when it succeeds.
func wireError<T>(_ body: () throws(WireError) -> T) -> WireError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// Validates `text` as a whole JSON document.
@discardableResult
func validate(_ text: String) throws(WireError) -> JSONValue {
    try validate(Array(text.utf8))
}

/// Validates `bytes` as a whole JSON document.
@discardableResult
func validate(_ bytes: [UInt8]) throws(WireError) -> JSONValue {
    var members: [JSONMember] = []
    // Array.withUnsafeBytes rethrows untyped errors; a Result keeps the type.
    let result = bytes.withUnsafeBytes { raw in
        Result { () throws(WireError) in try JSONReader.validate(raw, topLevelMembers: &members) }
    }
    return try result.get()
}
