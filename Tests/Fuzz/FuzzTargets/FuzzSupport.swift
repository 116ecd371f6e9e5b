import NIOCore

/// What the targets share: the input in the shapes the code under test receives it, and the check that turns a
/// broken invariant into a finding.
enum FuzzInput {
    static let allocator = ByteBufferAllocator()

    /// The bytes as a buffer whose reader index is 0, as the HTTP decoder hands bodies over.
    static func buffer(_ bytes: UnsafeRawBufferPointer) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// The same bytes behind a prefix that the reader index skips. Ranges are offsets from the reader index, so
    /// every result must equal the one from `buffer`; the prefix is JSON-like so that an index mix-up reads
    /// differently instead of failing alike.
    static func offsetBuffer(_ bytes: UnsafeRawBufferPointer) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count + 8)
        buffer.writeStaticString(#"{"a":["#)
        buffer.moveReaderIndex(forwardBy: 6)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// The buffer of `text`.
    static func buffer(_ text: String) -> ByteBuffer {
        allocator.buffer(string: text)
    }

    /// The input split at its first `count - 1` zero bytes (fewer parts when it has fewer zeros), for targets
    /// that need several inputs at once.
    static func split(_ bytes: UnsafeRawBufferPointer, parts count: Int) -> [UnsafeRawBufferPointer] {
        var parts: [UnsafeRawBufferPointer] = []
        var start = 0
        for index in bytes.indices where parts.count < count - 1 && bytes[index] == 0 {
            parts.append(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            start = index + 1
        }
        parts.append(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        return parts
    }

    /// A deterministic 64-bit hash of the input (FNV-1a), for choices that must be the same on every replay.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}

/// Stops the run when `condition` is false. A broken invariant is a finding like a crash: libFuzzer saves the
/// input and the message says which invariant.
func invariant(
    _ condition: Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}
