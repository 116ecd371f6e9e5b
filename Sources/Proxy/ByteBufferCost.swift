import CacheCore
import NIOCore

/// What a cached ByteBuffer keeps alive: NIO's storage object and the whole storage, which NIO allocates at the
/// next power of two of what was asked (a body of 1,100 bytes holds 2,048; one just over 64 KiB holds 128 KiB).
/// A slice keeps all of its storage alive, so the storage's capacity is what counts, not the slice's.
enum ByteBufferCost {
    /// NIO's `_Storage` instance: object header (16), capacity and pointer (16), the allocator's four function
    /// pointers (32).
    static let storageObjectBytes = AllocationSize.rounded(64)

    /// The storage NIO allocates for `bytes`: the next power of two.
    static func storage(for bytes: Int) -> Int {
        bytes <= 1 ? bytes : 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount)
    }

    static func of(_ buffer: ByteBuffer) -> Int {
        buffer.storageCapacity == 0 ? 0 : storageObjectBytes + AllocationSize.rounded(buffer.storageCapacity)
    }
}
